// attention.cpp — the implementation of ctorch_attention.h.
//
// Without dropout this is ATen's fused scaled_dot_product_attention (on CPU a flash-attention kernel with its own
// backward). The fused kernels draw dropout from the global generator only, so attention dropout with a caller's
// generator is written out here: scores, softmax, a Bernoulli keep-mask from that generator, product with the values.
// Both paths agree on what the fused kernel defines: the default scale 1/√D, boolean versus additive masks, zeros for
// a query that may see no key, and grouped-query heads.
#include "ctorch_attention.h"
#include "internal.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace {
using namespace ctorch::abi;

// [T, S]: true where query t may see key s under the causal rule, query t sitting at key position t + S − T.
at::Tensor causal_keep(int64_t queries, int64_t keys, const at::Device &device) {
  return at::ones({queries, keys}, at::TensorOptions().dtype(at::kBool).device(device)).tril(keys - queries);
}

// The caller's mask with the causal rule folded in, in the mask's own convention (boolean or additive).
at::Tensor fold_causal(const c10::optional<at::Tensor> &mask, int64_t queries, int64_t keys, const at::Device &device) {
  at::Tensor keep = causal_keep(queries, keys, device);
  if (!mask) return keep;
  if (mask->scalar_type() == at::kBool) return mask->logical_and(keep);
  at::Tensor bias = at::zeros({queries, keys}, mask->options())
                        .masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
  return *mask + bias;
}

// Attention with dropout drawn from `generator`. Grouped-query heads are expanded with repeat_interleave (head h of
// the queries reads key/value head h / groups), the layout the fused kernel's enable_gqa assumes.
at::Tensor attention_with_dropout(const at::Tensor &query, at::Tensor key, at::Tensor value,
                                  const c10::optional<at::Tensor> &mask, double scale, double p,
                                  const c10::optional<at::Generator> &generator) {
  int64_t groups = query.size(-3) / key.size(-3);
  if (groups > 1) {
    key = key.repeat_interleave(groups, -3);
    value = value.repeat_interleave(groups, -3);
  }
  at::Tensor scores = at::matmul(query, key.transpose(-2, -1)) * scale;
  c10::optional<at::Tensor> blind;  // query rows that may see no key
  if (mask) {
    scores = mask->scalar_type() == at::kBool
                 ? scores.masked_fill(mask->logical_not(), -std::numeric_limits<double>::infinity())
                 : scores + *mask;
    blind = at::isneginf(scores.detach()).all(-1, /*keepdim=*/true);
    // Softmax over a row of −∞ is NaN, and so would be its gradient; such rows give zeros instead.
    scores = scores.masked_fill(*blind, 0.0);
  }
  at::Tensor weights = scores.softmax(-1);
  if (blind) weights = weights.masked_fill(*blind, 0.0);
  at::Tensor keep = at::bernoulli(weights.detach(), 1.0 - p, generator);
  weights = weights * keep * (1.0 / (1.0 - p));
  return at::matmul(weights, value);
}

// ct_scaled_dot_product_attention without the C boundary.
at::Tensor attention(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, c10::optional<at::Tensor> attn_mask,
                     bool causal, bool has_scale, double scale, double dropout_p,
                     const c10::optional<at::Generator> &generator) {
  TORCH_CHECK(q.dim() >= 3 && k.dim() == q.dim() && v.dim() == q.dim(),
              "scaled dot-product attention expects query, key and value of one rank of at least 3 "
              "([..., heads, length, dim]), got ", q.sizes(), ", ", k.sizes(), " and ", v.sizes());
  const int64_t query_heads = q.size(-3), kv_heads = k.size(-3);
  TORCH_CHECK(kv_heads > 0 && query_heads % kv_heads == 0 && v.size(-3) == kv_heads,
              "grouped-query attention needs the query heads (", query_heads,
              ") to be a multiple of the key and value heads (", kv_heads, " and ", v.size(-3), ")");
  TORCH_CHECK(dropout_p >= 0.0 && dropout_p < 1.0, "attention dropout has to be in [0, 1), got ", dropout_p);
  const int64_t queries = q.size(-2), keys = k.size(-2);

  if (dropout_p > 0.0) {
    if (causal) attn_mask = fold_causal(attn_mask, queries, keys, q.device());
    double s = has_scale ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    return attention_with_dropout(q, k, v, attn_mask, s, dropout_p, generator);
  }
  // The kernel's is_causal is top-left aligned and excludes an explicit mask: other causal cases become a mask.
  bool kernel_causal = causal && !attn_mask && queries == keys;
  if (causal && !kernel_causal) attn_mask = fold_causal(attn_mask, queries, keys, q.device());
  c10::optional<double> chosen_scale = has_scale ? c10::optional<double>(scale) : c10::nullopt;
  // libtorch 2.15's kernel has enable_gqa, so grouped key/value heads are not copied on this path.
  return at::scaled_dot_product_attention(q, k, v, attn_mask, 0.0, kernel_causal, chosen_scale,
                                          /*enable_gqa=*/query_heads != kv_heads);
}

}  // namespace

extern "C" {

ct_tensor ct_scaled_dot_product_attention(ct_tensor query, ct_tensor key, ct_tensor value, ct_tensor mask,
                                          int32_t causal, int32_t has_scale, double scale, double dropout_p,
                                          ct_generator generator) {
  CT_TENSOR(attention(query->t, key->t, value->t, opt_tensor(mask), causal != 0, has_scale != 0, scale, dropout_p,
                      gen_of(generator)))
}

}  // extern "C"
