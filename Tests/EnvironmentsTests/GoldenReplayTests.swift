import Foundation
import Testing
import TestSupport
@testable import Environments

@Suite("Classic control against Gymnasium (golden/envs)")
struct GoldenReplayTests {
    @Test("every file of golden/envs replays step for step", arguments: Fixtures.goldenFiles("envs"))
    func replay(file: URL) throws {
        let json = try Fixtures.json(file)
        let id = json["env_id"] as! String
        let atol = json["obs_atol"] as? Double ?? 1e-5
        let spec = try Registry.spec(id)
        #expect(spec.maxEpisodeSteps == json["max_episode_steps"] as? Int)
        #expect(spec.rewardThreshold == json["reward_threshold"] as? Double)
        let episodes = json["episodes"] as! [[String: Any]]
        #expect(!episodes.isEmpty)
        for (e, episode) in episodes.enumerated() {
            let env = try Registry.make(id)
            _ = env.reset(seed: 0)
            let inner = (env as! Wrapper).unwrapped as! StatefulEnvironment
            inner.state = episode["initial_state"] as! [Double]
            for (t, step) in (episode["steps"] as! [[String: Any]]).enumerated() {
                let action: Action = (step["action"] as? [Double]).map { .continuous($0) } ?? .discrete(step["action"] as! Int)
                let result = try env.step(action)
                let context = "\(id) episode \(e) step \(t)"
                expectClose(result.observation.map(Double.init), step["obs"] as! [Double], atol: atol, rtol: 0, context)
                expectClose([result.reward], [step["reward"] as! Double], atol: 1e-6, rtol: 1e-6, "\(context) reward")
                #expect(result.terminated == step["terminated"] as! Bool, "\(context) terminated")
                #expect(result.truncated == step["truncated"] as! Bool, "\(context) truncated")
                if result.terminated || result.truncated { break }
            }
        }
    }
}
