import Foundation

extension OnPolicyConfig {
    /// The hyperparameter file shipped for `algorithm` (RL Zoo layout), as text.
    public static func bundledYAML(for algorithm: Algorithm) -> (text: String, path: String)? {
        guard let url = Bundle.module.url(forResource: algorithm.rawValue, withExtension: "yml", subdirectory: "hyperparams"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return nil }
        return (text, "hyperparams/\(algorithm.rawValue).yml")
    }

    /// SB3 defaults, then the bundled settings for `env`, then `file`'s settings (if given), then `overrides`.
    public static func resolve(algorithm: Algorithm, env: String, file: URL? = nil, overrides: [String] = []) throws -> OnPolicyConfig {
        var config = OnPolicyConfig(algorithm: algorithm, env: env)
        guard let (text, path) = bundledYAML(for: algorithm) else {
            throw ConfigurationError("the shipped hyperparameter file hyperparams/\(algorithm.rawValue).yml is missing from this installation")
        }
        try config.apply(yaml: text, file: path)
        if let file {
            let text: String
            do { text = try String(contentsOf: file, encoding: .utf8) } catch {
                throw ConfigurationError("\(file.path): cannot read (\(error.localizedDescription))")
            }
            if file.pathExtension == "json" {
                guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                    throw ConfigurationError("\(file.path): not a JSON object")
                }
                let settings = (object[env] as? [String: Any]) ?? object
                for (key, value) in settings where key != "algo" && key != "env" { try config.set(key, value, source: file.path) }
            } else if try !config.apply(yaml: text, file: file.path) {
                throw ConfigurationError("\(file.path): no settings for \(env) (the file maps environment ids to settings)")
            }
        }
        try config.apply(overrides: overrides)
        try config.validate()
        return config
    }
}
