import Foundation
import Torch

/// An advisory lock on a run directory (`flock` on `<directory>/.lock`), so that one process at a time writes a run.
/// The kernel releases it when the process ends, however it ends, so a killed run can be resumed at once.
public final class DirectoryLock {
    public let directory: URL
    private var descriptor: Int32

    /// Takes the lock, creating the directory if needed; throws `TrainingError.directoryInUse` when another process
    /// holds it.
    public init(_ directory: URL) throws {
        self.directory = directory
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw TrainingError.fileSystem(path: directory.path, reason: describe(error, path: directory.path))
        }
        let path = directory.appendingPathComponent(".lock").path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw TrainingError.fileSystem(path: path, reason: String(cString: strerror(errno))) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            close(descriptor)
            throw TrainingError.directoryInUse(path: directory.path, holder: holder)
        }
        let pid = Data("\(getpid())\n".utf8)
        ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    /// Releases the lock (also done when the object goes away or the process ends).
    public func release() {
        guard descriptor >= 0 else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }

    /// Whether some process holds the lock of `directory` now.
    public static func isHeld(_ directory: URL) -> Bool {
        let fd = open(directory.appendingPathComponent(".lock").path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }
}

/// A file-system error in words: the operating system's reason, not Foundation's error domain and code. With the
/// path that failed, an unknown reason is worked out from the path itself (a file where a directory should be, a
/// directory without write permission).
public func describe(_ error: Error, path: String? = nil) -> String {
    let ns = error as NSError
    if let path, CocoaError.Code(rawValue: ns.code) == .fileWriteUnknown || ns.userInfo[NSUnderlyingErrorKey] == nil {
        var ancestor = URL(fileURLWithPath: path).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: ancestor.path) && ancestor.path != "/" { ancestor = ancestor.deletingLastPathComponent() }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            return "not a directory (\(ancestor.path) is a file)"
        }
        if !FileManager.default.isWritableFile(atPath: ancestor.path) { return "permission denied (\(ancestor.path) is not writable)" }
    }
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    switch CocoaError.Code(rawValue: ns.code) {
    case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or directory"
    case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
    case .fileWriteOutOfSpace: return "no space left on device"
    case .fileWriteVolumeReadOnly: return "read-only file system"
    case .fileWriteFileExists: return "a file is in the way"
    default: return ns.localizedDescription
    }
}

/// Takes a run directory's lock when training starts (the first of a run directory's recorders, so that nothing is
/// written before it is held) and keeps it as long as the recorder lives, so that what is written after the loop
/// (the final model, an evaluation) is covered too; the process ending releases it as well.
public final class DirectoryLockRecorder: TrainingRecorder {
    public let directory: URL
    var lock: DirectoryLock?

    public init(directory: URL) { self.directory = directory }

    public func trainingWillStart(_ run: TrainingRunState) throws {
        if lock == nil { lock = try DirectoryLock(directory) }
    }

    /// Gives the lock up before the recorder goes away.
    public func release() {
        lock?.release()
        lock = nil
    }
}
