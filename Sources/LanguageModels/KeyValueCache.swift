import NeuralNetworks
import Torch

/// A key/value cache allocated once for the whole generation: [batch, kvHeads, capacity, headDim] buffers that each
/// step writes into at the current offset, so decoding never copies the cached positions again (a concatenating
/// cache copies all of them at every step: O(T²) bytes over T steps).
///
/// The buffers are allocated at the first update, with the keys' dtype and shape. `update` returns views of the
/// filled part.
public final class PreallocatedKeyValueCache: KeyValueCache {
    /// The number of positions the buffers hold.
    public let capacity: Int
    public private(set) var offset = 0
    public private(set) var keys: Tensor?
    public private(set) var values: Tensor?

    public init(capacity: Int) {
        precondition(capacity > 0, "a cache needs a positive capacity, got \(capacity)")
        self.capacity = capacity
    }

    public func update(keys newKeys: Tensor, values newValues: Tensor) -> (keys: Tensor, values: Tensor) {
        let steps = newKeys.size(-2)
        precondition(offset + steps <= capacity, "key/value cache of \(capacity) positions cannot take \(offset) + \(steps)")
        if keys == nil {
            var shape = newKeys.shape
            shape[shape.count - 2] = capacity
            var valueShape = newValues.shape
            valueShape[valueShape.count - 2] = capacity
            keys = Tensor.empty(shape, dtype: newKeys.dtype, device: newKeys.device)
            values = Tensor.empty(valueShape, dtype: newValues.dtype, device: newValues.device)
        }
        let keys = keys!, values = values!
        keys.narrow(dim: -2, start: offset, length: steps).copy_(newKeys)
        values.narrow(dim: -2, start: offset, length: steps).copy_(newValues)
        offset += steps
        return (keys.narrow(dim: -2, start: 0, length: offset), values.narrow(dim: -2, start: 0, length: offset))
    }

    /// The buffers for keys and values shaped like `keys` [batch, kvHeads, steps, headDim] (allocated on first use),
    /// with the current offset: what `decoderAttention` writes into. Call `advance(by:)` after it has.
    public func buffers(for keys: Tensor, values: Tensor) -> KeyValueBuffers {
        if self.keys == nil {
            var shape = keys.shape
            shape[shape.count - 2] = capacity
            var valueShape = values.shape
            valueShape[valueShape.count - 2] = capacity
            self.keys = Tensor.empty(shape, dtype: keys.dtype, device: keys.device)
            self.values = Tensor.empty(valueShape, dtype: values.dtype, device: values.device)
        }
        return KeyValueBuffers(keys: self.keys!, values: self.values!, offset: offset)
    }

    /// Allocates the buffers for `batch` sequences of `kvHeads` heads of `headDimension` in `dtype`, if not yet done.
    public func buffers(batch: Int, kvHeads: Int, headDimension: Int, dtype: DType) -> KeyValueBuffers {
        if keys == nil {
            keys = Tensor.empty([batch, kvHeads, capacity, headDimension], dtype: dtype)
            values = Tensor.empty([batch, kvHeads, capacity, headDimension], dtype: dtype)
        }
        return KeyValueBuffers(keys: keys!, values: values!, offset: offset)
    }

    /// Records that `steps` more positions were written into the buffers.
    public func advance(by steps: Int) {
        precondition(offset + steps <= capacity, "key/value cache of \(capacity) positions cannot take \(offset) + \(steps)")
        offset += steps
    }

    /// A cache for `copies` samples of every sequence: row i of this cache becomes rows i·copies … i·copies +
    /// copies − 1 of the new one (the layout of `repeat_interleave`), with the same offset and capacity. How one
    /// prompt is computed once and then sampled G times.
    public func repeatingRows(_ copies: Int) -> PreallocatedKeyValueCache {
        let copy = PreallocatedKeyValueCache(capacity: capacity)
        copy.offset = offset
        if let keys, let values {
            let rows = Tensor.arange(keys.size(0)).unsqueezed(1).expanded([keys.size(0), copies]).reshaped([-1])
            copy.keys = keys.indexSelect(dim: 0, index: rows)
            copy.values = values.indexSelect(dim: 0, index: rows)
        }
        return copy
    }

    /// Keeps only the rows `rows` (int64 indices), dropping finished sequences from a batch.
    public func selectRows(_ rows: Tensor) {
        keys = keys?.indexSelect(dim: 0, index: rows)
        values = values?.indexSelect(dim: 0, index: rows)
    }
}
