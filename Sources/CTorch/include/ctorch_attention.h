// ctorch_attention.h — attention for transformer code, with the conventions of ctorch.h: handles passed in are
// borrowed, a returned handle is new (release it with ct_free), NULL means failure and ct_last_error() says why.
#ifndef CTORCH_ATTENTION_H
#define CTORCH_ATTENTION_H

#include "ctorch.h"

#ifdef __cplusplus
extern "C" {
#endif

/// softmax(query·keyᵀ·scale + mask)·value over query [..., Hq, T, D] and key/value [..., Hkv, S, D] (Dv for value).
///
/// - `mask` (may be NULL) broadcasts to [..., Hq, T, S]: boolean (true = may attend) or floating (added to the
///   scores). A query row whose keys are all masked out yields zeros.
/// - `causal` != 0 lets query t see keys s ≤ t + S − T, so the queries are the last T positions of the keys (with
///   T == S this is torch's is_causal). It may be combined with `mask`; both apply.
/// - `has_scale` == 0 uses 1/√D.
/// - Hq must be a multiple of Hkv (grouped-query attention): query head h reads key/value head h / (Hq / Hkv).
/// - `dropout_p` in [0, 1): with p > 0 the attention weights are dropped with `generator` (NULL: the global one) and
///   the rest scaled by 1/(1 − p), computed by composed operations because the fused kernel takes no generator;
///   with p == 0 it is ATen's fused kernel (at::scaled_dot_product_attention). Pass 0 outside training.
///
/// Differentiable with respect to query, key, value and a floating mask.
ct_tensor ct_scaled_dot_product_attention(ct_tensor query, ct_tensor key, ct_tensor value, ct_tensor mask,
                                          int32_t causal, int32_t has_scale, double scale, double dropout_p,
                                          ct_generator generator);

#ifdef __cplusplus
}
#endif
#endif
