import Foundation
import NeuralNetworks
import Torch

/// The one loop that trains: every trainer (on-policy RL now, the language-model trainers next) hands it a
/// `TrainingProcedure` and the recorders it wants, and the loop runs the steps.
///
/// Its contract, whatever the procedure:
/// - Each step runs inside `catchingTorchErrors`, so running out of memory (or another recoverable libtorch failure)
///   is a `TorchError` naming the step ("training update 5 of 16: …"), not a crash. Nothing of a failed step is
///   recorded or checkpointed.
/// - A metric whose name ends in `loss` that is NaN or infinite stops training with `TrainingError.nonFiniteLoss`;
///   the checkpoint of the last good step stays in place.
/// - `CheckpointRecorder`s receive the procedure's complete state every `interval` steps and after the last step;
///   they write in the background, atomically. Resuming from one continues the identical run.
/// - With a checkpoint recorder attached, Ctrl-C (SIGINT) finishes the current step, writes a checkpoint and returns
///   `.interrupted`; without one, no signal handler is installed (a bare `learn()` behaves like any function).
/// - A procedure's `stopReason` (early stopping by a callback) ends the run after that step with `.stopped`.
public enum TrainingLoop {
    /// Test hook (`PROXIMA_TEST_FAIL_ALLOCATION_AT_STEP=N`): step N makes one allocation larger than any machine's
    /// memory, to check that running out of memory inside a step is an error that keeps the last checkpoint.
    static let injectedAllocationFailureStep: Int? =
        ProcessInfo.processInfo.environment["PROXIMA_TEST_FAIL_ALLOCATION_AT_STEP"].flatMap { Int($0) }

    /// Runs the procedure's remaining steps.
    @discardableResult
    public static func run(_ procedure: TrainingProcedure, recorders: [TrainingRecorder] = []) throws -> TrainingOutcome {
        let interruption = installsInterruptionHandler(recorders) ? InterruptionMonitor() : nil
        defer { interruption?.remove() }
        return try run(procedure, recorders: recorders) { interruption?.isRequested == true }
    }

    /// Whether a run with these recorders handles Ctrl-C (only with a checkpoint to write).
    static func installsInterruptionHandler(_ recorders: [TrainingRecorder]) -> Bool { recorders.contains { $0 is CheckpointRecorder } }

    /// The loop, with the interruption request as a predicate (tests use their own).
    static func run(_ procedure: TrainingProcedure, recorders: [TrainingRecorder], interrupted: () -> Bool) throws -> TrainingOutcome {
        let checkpoints = recorders.compactMap { $0 as? CheckpointRecorder }
        func state() -> TrainingRunState {
            TrainingRunState(label: procedure.label, completedSteps: procedure.completedSteps, plannedSteps: procedure.plannedSteps,
                             completedUnits: procedure.completedUnits, plannedUnits: procedure.plannedUnits,
                             isContinuation: startSteps > 0)
        }
        let startSteps = procedure.completedSteps
        var lastGood: TrainingRunState?
        procedure.trainingWillStart()
        defer { procedure.trainingDidEnd() }
        do {
            for recorder in recorders { try recorder.trainingWillStart(state()) }
            var outcome = TrainingOutcome.completed
            while procedure.completedSteps < procedure.plannedSteps {
                if interrupted() {
                    outcome = .interrupted
                    break
                }
                lastGood = state()
                let index = procedure.completedSteps + 1
                let result = try catchingTorchErrors("\(procedure.stepName) \(index) of \(procedure.plannedSteps)") { () throws -> TrainingStepResult in
                    let result = try procedure.step()
                    if let failure = injectedAllocationFailureStep, index == failure {
                        _ = Tensor.zeros([1]).expanded([1 << 42]).contiguous()
                    }
                    return result
                }
                let losses = result.metrics.filter { $0.key.hasSuffix("loss") }
                if let bad = losses.first(where: { !$0.value.isFinite }) {
                    throw TrainingError.nonFiniteLoss(step: index, losses: losses.merging([bad.key: bad.value]) { $1 })
                }
                let record = TrainingStepRecord(step: procedure.completedSteps, units: procedure.completedUnits,
                                                plannedUnits: procedure.plannedUnits, metrics: result.metrics)
                for recorder in recorders { try recorder.record(record) }
                // A step that stopped before its update (an early stop) does not count as a step done.
                let advanced = procedure.completedSteps >= index
                for checkpoint in checkpoints where advanced && procedure.completedSteps % checkpoint.interval == 0 {
                    try checkpoint.schedule(try procedure.captureCheckpoint(), step: procedure.completedSteps)
                }
                if let reason = result.stopReason {
                    outcome = .stopped(reason: reason)
                    break
                }
            }
            // The state at the end is always on disk: after the last step, and after an early stop or an interruption,
            // whose state may have moved on since the last periodic checkpoint (a stop before an update has collected
            // its rollout).
            for checkpoint in checkpoints where outcome != .completed || checkpoint.lastScheduledStep != procedure.completedSteps {
                try checkpoint.schedule(try procedure.captureCheckpoint(), step: procedure.completedSteps)
            }
            for checkpoint in checkpoints { try checkpoint.wait() }
            for recorder in recorders { try recorder.trainingDidEnd(state(), outcome: outcome) }
            return outcome
        } catch {
            for checkpoint in checkpoints { try? checkpoint.wait() }
            // Reported as of the last finished step: nothing of the failed one counts.
            let failed = lastGood ?? state()
            for recorder in recorders { recorder.trainingDidFail(failed, error: error) }
            throw error
        }
    }
}

/// Counts SIGINTs while a handler is installed; a run sees a request when the count differs from its start. (A signal
/// handler may only touch such plain globals.)
nonisolated(unsafe) private var interruptionCount: Int32 = 0

/// Turns SIGINT into a request the loop sees between steps, while a checkpoint recorder is attached. Ctrl-C is
/// process-wide: every run with a checkpoint recorder stops at its next step boundary. The handler is installed by
/// the first such run and the previous one comes back when the last ends, so runs may overlap.
final class InterruptionMonitor {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var installations = 0
    nonisolated(unsafe) private static var previousHandler: sighandler_t?
    nonisolated(unsafe) private static var previousMask = sigset_t()
    private let start: Int32

    init() {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        if Self.installations == 0 {
            Self.previousHandler = signal(SIGINT) { _ in interruptionCount &+= 1 }
            // A process may start with SIGINT blocked (inherited from its parent); unblock it on this thread so that
            // Ctrl-C reaches the handler.
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGINT)
            pthread_sigmask(SIG_UNBLOCK, &unblock, &Self.previousMask)
        }
        Self.installations += 1
        start = interruptionCount
    }

    var isRequested: Bool { interruptionCount != start }

    /// Whether any run has the handler installed now.
    static var isInstalled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return installations > 0
    }

    func remove() {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        Self.installations -= 1
        if Self.installations == 0 {
            pthread_sigmask(SIG_SETMASK, &Self.previousMask, nil)
            signal(SIGINT, Self.previousHandler ?? SIG_DFL)
        }
    }
}
