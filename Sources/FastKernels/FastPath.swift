import CFastKernels

/// Proxima's hand-written fast paths and how often each ran. A fast path that silently stops running is a bug, so
/// every one counts the calls it took and the calls it declined (then the plain ATen path ran); trainers log the
/// counts and tests assert them.
public enum FastPath: Int32, CaseIterable, Sendable {
    /// `Tensor.mlp`: the whole network as one autograd node.
    case mlp = 0
    /// `FusedPPOLoss`: PPO's minibatch objective with a hand-derived gradient.
    case ppoLoss = 1
    /// `ppoActorCriticStep`: a whole PPO gradient step of an MLP actor-critic without autograd.
    case ppoStep = 2
    /// `actorCriticAct`: a rollout step (both networks and sampling) in one call.
    case act = 3
    /// The float32 products inside the paths above: taken by Proxima's register-tiled AVX2 kernel (widths a multiple
    /// of 16, small operands), declined to the BLAS (MKL) otherwise and always in a portable build.
    case smallProduct = 4

    /// Calls made on the current thread that took the fast path and that it declined (then the plain path ran).
    public var counts: (taken: Int, declined: Int) {
        var taken: Int64 = 0, declined: Int64 = 0
        fk_path_counts(rawValue, &taken, &declined)
        return (Int(taken), Int(declined))
    }

    /// The instruction set the kernels run with: "avx2", or "portable" (another CPU, or a build with
    /// `-Xcxx -DPROXIMA_PORTABLE_KERNELS`).
    public static var kernelVariant: String { String(cString: fk_kernel_variant()) }

    /// Threads the fused kernels may use (PPO's step runs its policy and value halves in parallel from 2); nil:
    /// libtorch's intra-op count. Results do not depend on it.
    public static var threads: Int? {
        get { fk_threads() > 0 ? Int(fk_threads()) : nil }
        set { fk_set_threads(Int32(newValue ?? 0)) }
    }

    /// Whether the BLAS the fused products call (libtorch's MKL) was found; without it every fast path declines.
    public static var blasAvailable: Bool { fk_blas_available() != 0 }
}
