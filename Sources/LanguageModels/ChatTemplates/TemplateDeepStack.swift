#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Parsing and rendering recurse as deep as the template nests (bounded by the parser's and
/// interpreter's limits). Those limits need more stack than some threads have (secondary threads,
/// debug builds), so the work runs on a short-lived thread with a large stack. If such a thread
/// cannot be created, the work runs on the caller's thread.
enum TemplateDeepStack {
    static let stackSize = 64 << 20

    private protocol Job: AnyObject {
        func run()
    }

    private final class Box<T>: Job, @unchecked Sendable {
        let body: () throws -> T
        var result: Result<T, Error>?
        init(_ body: @escaping () throws -> T) { self.body = body }
        func run() { result = Result { try body() } }
    }

    static func run<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = Box(body)
        var attributes = pthread_attr_t()
        guard pthread_attr_init(&attributes) == 0 else { return try body() }
        defer { pthread_attr_destroy(&attributes) }
        guard pthread_attr_setstacksize(&attributes, stackSize) == 0 else { return try body() }
        let context = Unmanaged.passRetained(box as AnyObject).toOpaque()
        #if canImport(Darwin)
        var thread: pthread_t?
        #else
        var thread = pthread_t()
        #endif
        let status = pthread_create(&thread, &attributes, { raw in
            guard let raw else { return nil }
            let job = Unmanaged<AnyObject>.fromOpaque(raw).takeRetainedValue() as? Job
            job?.run()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<AnyObject>.fromOpaque(context).release()
            return try body()
        }
        #if canImport(Darwin)
        if let thread { pthread_join(thread, nil) }
        #else
        pthread_join(thread, nil)
        #endif
        guard let result = box.result else { return try body() }
        return try result.get()
    }
}
