import CTorch

extension Tensor {
    /// A copy converted to `dtype` on `device` in one step (the same tensor when it already matches both).
    public func to(dtype: DType, device: Device) -> Tensor {
        let (type, index) = device.code
        return withHandle { wrapCreated(ct_to_dtype_device($0, dtype.rawValue, type, index), on: device, "to(dtype: \(dtype), device: \(device))") }
    }

    /// The address of the first element (0 when the tensor has none). Two tensors with the same address share memory;
    /// use it to check sharing, never to read or write through.
    public var dataAddress: UInt { withHandle { ct_data_ptr($0).map { UInt(bitPattern: $0) } ?? 0 } }
}
