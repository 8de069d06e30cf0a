// transformer.cpp — the implementation of ctorch_transformer.h.
#include "ctorch_transformer.h"
#include "internal.h"

#include <ATen/ATen.h>

#include <limits>

namespace {
using namespace ctorch::abi;

at::Tensor rms_norm(const at::Tensor &x, const at::Tensor &weight, double eps) {
  at::Tensor wide = x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
  at::Tensor normalized = wide * (wide.square().mean(-1, /*keepdim=*/true) + eps).rsqrt();
  return weight * normalized.to(x.scalar_type());
}

// x·cos + rotate_half(x)·sin over [B, heads, T, D] with tables [B, 1, T, D].
at::Tensor rotate(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor rotated = at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

at::Tensor decoder_attention(const at::Tensor &query, const at::Tensor &key, const at::Tensor &value, int64_t heads,
                             int64_t kv_heads, int64_t head_dim, const c10::optional<at::Tensor> &query_norm,
                             const c10::optional<at::Tensor> &key_norm, double norm_eps,
                             const c10::optional<at::Tensor> &cos, const c10::optional<at::Tensor> &sin,
                             const c10::optional<at::Tensor> &cache_keys, const c10::optional<at::Tensor> &cache_values,
                             int64_t offset, const c10::optional<at::Tensor> &mask, bool causal, double scale) {
  TORCH_CHECK(query.dim() == 3 && key.dim() == 3 && value.dim() == 3, "decoder attention expects [batch, tokens, features] "
              "projections, got ", query.sizes(), ", ", key.sizes(), " and ", value.sizes());
  TORCH_CHECK(kv_heads > 0 && heads % kv_heads == 0, "query heads (", heads, ") must be a multiple of key/value heads (", kv_heads, ")");
  // The queries may be the last `tokens` of the key positions only (a pass that needs the outputs of those alone).
  const int64_t batch = query.size(0), tokens = query.size(1), key_tokens = key.size(1);
  TORCH_CHECK(tokens <= key_tokens && (tokens == key_tokens || !(cache_keys || cache_values)),
              "decoder attention takes at most as many queries as keys, and as many when caching: got ", tokens,
              " queries and ", key_tokens, " keys");
  at::Tensor q = query.view({batch, tokens, heads, head_dim});
  at::Tensor k = key.view({batch, key_tokens, kv_heads, head_dim});
  if (query_norm) q = rms_norm(q, *query_norm, norm_eps);
  if (key_norm) k = rms_norm(k, *key_norm, norm_eps);
  q = q.transpose(1, 2);
  k = k.transpose(1, 2);
  at::Tensor v = value.view({batch, key_tokens, kv_heads, head_dim}).transpose(1, 2);
  if (cos && sin) {
    at::Tensor c = cos->unsqueeze(1), s = sin->unsqueeze(1);
    k = rotate(k, c, s);
    if (tokens != key_tokens) {
      c = c.narrow(2, key_tokens - tokens, tokens);
      s = s.narrow(2, key_tokens - tokens, tokens);
    }
    q = rotate(q, c, s);
  }
  int64_t keys_length = key_tokens;
  if (cache_keys && cache_values) {
    TORCH_CHECK(offset >= 0 && offset + tokens <= cache_keys->size(2), "key/value cache of ", cache_keys->size(2),
                " positions cannot take ", offset, " + ", tokens);
    cache_keys->narrow(2, offset, tokens).copy_(k);
    cache_values->narrow(2, offset, tokens).copy_(v);
    keys_length = offset + tokens;
    k = cache_keys->narrow(2, 0, keys_length);
    v = cache_values->narrow(2, 0, keys_length);
  }
  at::Tensor attended;
  if (tokens == 1) {
    // One query per sequence: [B, kv, groups, D] · [B, kv, D, S] → softmax → · [B, kv, S, D]. The causal rule lets the
    // last position see every key, so only the mask applies.
    const int64_t groups = heads / kv_heads;
    at::Tensor grouped = q.reshape({batch, kv_heads, groups, head_dim});
    at::Tensor scores = at::matmul(grouped, k.transpose(-2, -1)) * scale;
    if (mask) {
      at::Tensor keep = mask->reshape({batch, 1, 1, keys_length});
      scores = scores.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
    }
    attended = at::matmul(scores.softmax(-1), v).reshape({batch, heads, 1, head_dim});
  } else {
    c10::optional<at::Tensor> attention_mask = mask;
    bool kernel_causal = !mask && causal && keys_length == tokens;
    if (!mask && causal && keys_length != tokens) {
      attention_mask = at::ones({tokens, keys_length}, q.options().dtype(at::kBool)).tril(keys_length - tokens);
    }
    attended = at::scaled_dot_product_attention(q, k, v, attention_mask, 0.0, kernel_causal, scale,
                                                /*enable_gqa=*/heads != kv_heads);
  }
  return attended.transpose(1, 2).reshape({batch, tokens, heads * head_dim});
}

}  // namespace

extern "C" {

ct_tensor ct_rms_norm(ct_tensor x, ct_tensor weight, double eps) { CT_TENSOR(rms_norm(x->t, weight->t, eps)) }

ct_tensor ct_silu_mul(ct_tensor gate, ct_tensor up) { CT_TENSOR(at::silu(gate->t) * up->t) }

ct_tensor ct_decoder_attention(ct_tensor query, ct_tensor key, ct_tensor value, int64_t heads, int64_t kv_heads,
                               int64_t head_dim, ct_tensor query_norm, ct_tensor key_norm, double norm_eps,
                               ct_tensor cos, ct_tensor sin, ct_tensor cache_keys, ct_tensor cache_values,
                               int64_t offset, ct_tensor mask, int32_t causal, double scale) {
  CT_TENSOR(decoder_attention(query->t, key->t, value->t, heads, kv_heads, head_dim, opt_tensor(query_norm),
                              opt_tensor(key_norm), norm_eps, opt_tensor(cos), opt_tensor(sin), opt_tensor(cache_keys),
                              opt_tensor(cache_values), offset, opt_tensor(mask), causal != 0, scale))
}

}  // extern "C"
