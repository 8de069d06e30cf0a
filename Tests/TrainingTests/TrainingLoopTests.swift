import Foundation
import NeuralNetworks
import Testing
import TestSupport
import Torch
@testable import Training

/// A procedure whose state is one counter; `onStep` lets a test act inside a step.
final class CountingProcedure: TrainingProcedure {
    var completedSteps = 0
    let plannedSteps: Int
    var onStep: (Int) -> TrainingStepResult = { _ in TrainingStepResult(metrics: ["train/loss": 1]) }
    var events: [String] = []

    init(planned: Int) { plannedSteps = planned }

    var label: String { "counting" }
    var stepName: String { "step" }
    var completedUnits: Int { completedSteps * 10 }
    var plannedUnits: Int { plannedSteps * 10 }

    func step() throws -> TrainingStepResult {
        completedSteps += 1
        return onStep(completedSteps)
    }

    func captureCheckpoint() throws -> TrainingCheckpoint {
        TrainingCheckpoint(model: ["value": Tensor([Double(completedSteps)])], counters: ["step": completedSteps])
    }

    func trainingWillStart() { events.append("start") }
    func trainingDidEnd() { events.append("end") }
}

/// Remembers what the loop told it.
final class LoggingRecorder: TrainingRecorder {
    var steps: [Int] = []
    var outcome: TrainingOutcome?
    var failure: String?
    var started: TrainingRunState?
    func trainingWillStart(_ run: TrainingRunState) throws { started = run }
    func record(_ step: TrainingStepRecord) throws { steps.append(step.units) }
    func trainingDidEnd(_ run: TrainingRunState, outcome: TrainingOutcome) throws { self.outcome = outcome }
    func trainingDidFail(_ run: TrainingRunState, error: Error) { failure = "\(error)" }
}

@Suite("The training loop")
struct TrainingLoopTests {
    @Test("runs every planned step, records each against its units and checkpoints every interval and at the end")
    func completes() throws {
        let procedure = CountingProcedure(planned: 5)
        let log = LoggingRecorder()
        let url = try temporaryDirectory().appendingPathComponent("checkpoints/c.safetensors")
        let checkpoint = CheckpointRecorder(url: url, interval: 2)
        #expect(try TrainingLoop.run(procedure, recorders: [log, checkpoint]) == .completed)
        #expect(log.steps == [10, 20, 30, 40, 50])
        #expect(log.outcome == .completed && log.started?.isContinuation == false)
        #expect(procedure.events == ["start", "end"])
        #expect(try TrainingCheckpoint.read(from: url).counters["step"] == 5)
        #expect(checkpoint.lastScheduledStep == 5)
        // Continuing a finished procedure runs nothing more and says it continues.
        let again = LoggingRecorder()
        #expect(try TrainingLoop.run(procedure, recorders: [again]) == .completed)
        #expect(again.steps.isEmpty && again.started?.isContinuation == true)
    }

    @Test("a NaN or infinite loss stops with TrainingError naming the step; the last good checkpoint stays", arguments: [Double.nan, .infinity])
    func nonFiniteLoss(bad: Double) throws {
        let procedure = CountingProcedure(planned: 10)
        procedure.onStep = { step in TrainingStepResult(metrics: ["train/policy_loss": step == 5 ? bad : 0.5, "train/grad_norm": .nan]) }
        let log = LoggingRecorder()
        let url = try temporaryDirectory().appendingPathComponent("c.safetensors")
        let error = #expect(throws: TrainingError.self) {
            try TrainingLoop.run(procedure, recorders: [log, CheckpointRecorder(url: url, interval: 2)])
        }
        #expect(error?.description.contains("non-finite loss in step 5") == true, "\(String(describing: error))")
        #expect(log.steps == [10, 20, 30, 40], "nothing of step 5 is recorded (a NaN gradient norm alone is no loss)")
        #expect(log.failure != nil && log.outcome == nil)
        #expect(procedure.events == ["start", "end"])
        #expect(try TrainingCheckpoint.read(from: url).counters["step"] == 4)
    }

    @Test("a stop reason ends the run after that step, with a final checkpoint")
    func earlyStop() throws {
        let procedure = CountingProcedure(planned: 100)
        procedure.onStep = { step in TrainingStepResult(metrics: [:], stopReason: step == 3 ? "good enough" : nil) }
        let url = try temporaryDirectory().appendingPathComponent("c.safetensors")
        #expect(try TrainingLoop.run(procedure, recorders: [CheckpointRecorder(url: url, interval: 10)]) == .stopped(reason: "good enough"))
        #expect(try TrainingCheckpoint.read(from: url).counters["step"] == 3)
    }

    @Test("an interruption ends the run after the current step with a checkpoint; only a checkpoint recorder installs the handler")
    func interruption() throws {
        // Real SIGINT delivery is tested end to end by the CLI test in TrainerTests (a separate process): a signal
        // raised here would stop every other test's run that has a checkpoint recorder.
        #expect(!TrainingLoop.installsInterruptionHandler([]))
        #expect(!TrainingLoop.installsInterruptionHandler([LoggingRecorder(), MetricsRecorder(directory: try temporaryDirectory())]))
        #expect(TrainingLoop.installsInterruptionHandler([CheckpointRecorder(url: try temporaryDirectory().appendingPathComponent("c"), interval: 1)]))

        let procedure = CountingProcedure(planned: 1000)
        let url = try temporaryDirectory().appendingPathComponent("c.safetensors")
        let log = LoggingRecorder()
        let outcome = try TrainingLoop.run(procedure, recorders: [log, CheckpointRecorder(url: url, interval: 100)],
                                           interrupted: { procedure.completedSteps >= 4 })
        #expect(outcome == .interrupted && procedure.completedSteps == 4)
        #expect(try TrainingCheckpoint.read(from: url).counters["step"] == 4, "the interruption's checkpoint is written")
        #expect(log.outcome == .interrupted)
    }

    @Test("overlapping runs share one SIGINT handler: it stays until the last of them ends")
    func nestedHandlers() {
        let outer = InterruptionMonitor()
        let inner = InterruptionMonitor()
        #expect(!outer.isRequested && !inner.isRequested)
        inner.remove()
        #expect(InterruptionMonitor.isInstalled, "the outer run still has its handler")
        outer.remove()
    }

    @Test("run.json follows the run: running, then the outcome, or the failure")
    func runStatus() throws {
        let directory = try temporaryDirectory()
        func status() throws -> String {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("run.json"))) as? [String: Any]
            return object?["status"] as? String ?? "?"
        }
        let procedure = CountingProcedure(planned: 2)
        var during = ""
        procedure.onStep = { _ in during = (try? status()) ?? ""; return TrainingStepResult(metrics: [:]) }
        try TrainingLoop.run(procedure, recorders: [RunStatusRecorder(directory: directory) { ["algorithm": "counting"] }])
        #expect(during == "running")
        #expect(try status() == "finished")
        let failing = CountingProcedure(planned: 2)
        failing.onStep = { _ in TrainingStepResult(metrics: ["loss": .nan]) }
        #expect(throws: TrainingError.self) { try TrainingLoop.run(failing, recorders: [RunStatusRecorder(directory: directory) { [:] }]) }
        #expect(try status().hasPrefix("failed: non-finite loss"))
    }
}

@Suite("Background checkpoint writes")
struct CheckpointWriterTests {
    @Test("a checkpoint written in the background reports a failed write once, at the next write or wait")
    func backgroundCheckpointFailure() throws {
        let writer = CheckpointWriter()
        let checkpoint = TrainingCheckpoint.capture(model: Linear(inputSize: 2, outputSize: 1))
        let missing = try temporaryDirectory().appendingPathComponent("no/such/directory/checkpoint.safetensors")
        try writer.write(checkpoint, to: missing)
        #expect(throws: (any Error).self) { try writer.wait() }
        try writer.wait()
        let good = try temporaryDirectory().appendingPathComponent("checkpoint.safetensors")
        try writer.write(checkpoint, to: good)
        try writer.wait()
        #expect(try TrainingCheckpoint.read(from: good).model.keys.sorted() == ["bias", "weight"])
    }
}
