// ctorch_transformer.h — the pieces of a decoder-only transformer layer that sit between its linear projections, each
// one C call composed of ATen operations (so autograd records them as usual). The projections themselves stay in
// Swift, where adapters such as LoRA can replace them. Conventions are ctorch.h's: borrowed inputs, a new handle out,
// NULL on failure with the message in ct_last_error().
#ifndef CTORCH_TRANSFORMER_H
#define CTORCH_TRANSFORMER_H
#include "ctorch.h"
#ifdef __cplusplus
extern "C" {
#endif

/// weight · x / √(mean(x², last axis) + eps), computed in float32 (float64 stays float64) and cast back before the
/// scale, as transformers' LlamaRMSNorm does.
ct_tensor ct_rms_norm(ct_tensor x, ct_tensor weight, double eps);

/// silu(gate) · up (the SwiGLU nonlinearity).
ct_tensor ct_silu_mul(ct_tensor gate, ct_tensor up);

/// GELU with the tanh formula (GPT-2's gelu_new), as at::gelu(x, "tanh"). When a gradient is recorded through a
/// float32 CPU tensor (and AVX2 is there), one pass computes the value and the derivative and saves the derivative
/// for the backward pass (gelu_tanh.cpp): the same values and gradients, one tanh per element instead of two.
ct_tensor ct_gelu_tanh(ct_tensor x);
/// How many ct_gelu_tanh calls took the fused kernel, and switching it off (0) or on (1, the default).
int64_t ct_gelu_tanh_fused_calls(void);
void ct_set_gelu_tanh_fused(int32_t enabled);
int32_t ct_gelu_tanh_fused_enabled(void);

/// The attention of one decoder layer from its projections to the input of its output projection.
///
/// - `query` [B, T, heads·D], `key` and `value` [B, S, kv_heads·D]: the projections of the layer's input. Without a
///   cache the queries may be fewer than the keys (T < S): they are then the last T of the S positions, for a pass
///   that needs only those positions' outputs; with a cache S == T.
/// - `query_norm`, `key_norm` (may be NULL): RMSNorm weights [D] applied to each head before the rotation (Qwen3).
/// - `cos`, `sin` (may be NULL: no rotation, GPT-2): rotary tables [B, S, D] of the key positions, half-split layout.
/// - `cache_keys`, `cache_values` (may be NULL): buffers [B, kv_heads, capacity, D] holding `offset` earlier
///   positions; the new keys and values are written at `offset` and the queries attend over the first offset + T.
/// - `mask` (may be NULL) boolean, broadcastable to [B, 1, T, offset + T], true = may attend; it replaces the causal
///   rule, which applies (queries as the last T positions) when `mask` is NULL and `causal` != 0.
/// - `scale`: multiplies the scores.
/// Returns [B, T, heads·D]. A single query per sequence (T == 1) is computed as one batched product per key/value
/// head group; longer inputs go through ATen's fused attention kernel.
ct_tensor ct_decoder_attention(ct_tensor query, ct_tensor key, ct_tensor value, int64_t heads, int64_t kv_heads,
                               int64_t head_dim, ct_tensor query_norm, ct_tensor key_norm, double norm_eps,
                               ct_tensor cos, ct_tensor sin, ct_tensor cache_keys, ct_tensor cache_values,
                               int64_t offset, ct_tensor mask, int32_t causal, double scale);

#ifdef __cplusplus
}
#endif
#endif
