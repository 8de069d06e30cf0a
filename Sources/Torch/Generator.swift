import CTorch

/// A seeded source of random numbers (libtorch's Mersenne Twister on the CPU, Philox on CUDA). Pass one to the
/// random functions to make a computation reproducible independently of the global generator; it draws for tensors
/// on its own device.
public final class Generator: @unchecked Sendable {
    @_spi(CInterop) public let handle: ct_generator

    /// A generator for `device` (CPU by default) seeded with `seed`.
    public init(seed: UInt64, device: Device = .cpu) {
        let (type, index) = device.code
        guard let handle = ct_generator_new_on(seed, type, index) else { torchFailure("Generator(seed:device: \(device))") }
        self.handle = handle
    }

    /// The device whose tensors this generator fills.
    public var device: Device {
        withExtendedLifetime(self) {
            ct_generator_device_type(handle) == 1 ? .cuda(Int(ct_generator_device_index(handle))) : .cpu
        }
    }

    deinit { ct_generator_free(handle) }

    /// The seed this generator was last seeded with; setting it reseeds.
    public var seed: UInt64 {
        get { withExtendedLifetime(self) { ct_generator_seed(handle) } }
        set { withExtendedLifetime(self) { check(ct_generator_set_seed(handle, newValue), "Generator.seed") } }
    }

    /// The full internal state (a uint8 tensor), for checkpoints.
    public var state: Tensor {
        get { withExtendedLifetime(self) { wrap(ct_generator_get_state(handle), "Generator.state") } }
        set { withExtendedLifetime(self) { newValue.withHandle { check(ct_generator_set_state(handle, $0), "Generator.state") } } }
    }
}

/// Calls `body` with the generator's handle (NULL meaning libtorch's global generator), keeping it alive.
@inline(__always)
func withGenerator<R>(_ generator: Generator?, _ body: (ct_generator?) -> R) -> R {
    guard let generator else { return body(nil) }
    return withExtendedLifetime(generator) { body(generator.handle) }
}

/// Process-wide libtorch settings: the global seed and thread counts.
public enum LibTorch {
    /// Seeds libtorch's global CPU generator (what random functions use without an explicit `Generator`).
    public static func manualSeed(_ seed: UInt64) { check(ct_manual_seed(seed), "manualSeed") }

    /// The global generator's state, for checkpoints.
    public static var globalGeneratorState: Tensor {
        get { wrap(ct_generator_get_state(nil), "globalGeneratorState") }
        set { newValue.withHandle { check(ct_generator_set_state(nil, $0), "globalGeneratorState") } }
    }

    /// Intra-op threads (libtorch's pool; OpenMP and MKL follow). Results for one thread count are deterministic.
    public static var numThreads: Int {
        get { Int(ct_get_num_threads()) }
        set {
            precondition(newValue > 0, "numThreads must be positive, got \(newValue)")
            check(ct_set_num_threads(Int32(newValue)), "numThreads")
        }
    }

    /// The BLAS Proxima's fused kernels call and its version ("none found" when the libtorch build exports none).
    public static var blasInfo: String { String(cString: ct_blas_info()) }

    /// ATen's vectorised kernel level on this CPU ("AVX2", "AVX512", "DEFAULT", …).
    public static var cpuCapability: String { String(cString: ct_cpu_capability()) }

    /// ATen's own description of its thread pools.
    public static var parallelInfo: String { String(cString: ct_parallel_info()) }

    /// The libtorch version Proxima was built against.
    public static var version: String { String(cString: ct_torch_version()) }

    /// The libtorch_cpu library file this process loaded.
    public static var libraryPath: String { String(cString: ct_libtorch_path()) }

    /// Live tensor handles in this process (for leak checks).
    public static var liveTensorCount: Int { Int(ct_live_handles()) }

    /// Tensor handles created minus freed on the calling thread (for leak checks while other threads work).
    public static var threadTensorBalance: Int { Int(ct_thread_handle_balance()) }
}

extension Tensor {
    /// 0/1 samples with success probabilities `self` (same dtype as `self`).
    public func bernoulli(generator: Generator? = nil) -> Tensor {
        withGenerator(generator) { g in withHandle { wrap(ct_bernoulli($0, g), "bernoulli") } }
    }

    /// Indices drawn from the (unnormalised) probabilities in the last dimension.
    public func multinomial(numSamples: Int, replacement: Bool = false, generator: Generator? = nil) -> Tensor {
        withGenerator(generator) { g in
            withHandle { wrap(ct_multinomial($0, Int64(numSamples), replacement ? 1 : 0, g), "multinomial") }
        }
    }

    /// Zeroes each element with probability `p` and scales the rest by 1/(1-p) when `training`.
    public func dropout(_ p: Double, training: Bool = true, generator: Generator? = nil) -> Tensor {
        withGenerator(generator) { g in withHandle { wrap(ct_dropout($0, p, training ? 1 : 0, g), "dropout") } }
    }

    /// Fills in place with uniform samples in [low, high).
    public func uniform_(_ low: Double = 0, _ high: Double = 1, generator: Generator? = nil) {
        withGenerator(generator) { g in withHandle { check(ct_uniform_($0, low, high, g), "uniform_") } }
    }

    /// Fills in place with normal samples.
    public func normal_(mean: Double = 0, std: Double = 1, generator: Generator? = nil) {
        withGenerator(generator) { g in withHandle { check(ct_normal_($0, mean, std, g), "normal_") } }
    }
}
