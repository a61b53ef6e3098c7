/**
 * `@migrate-offload/dcbm`: the DMA Core Batch Migrator and the dmaengine model it drives.
 *
 * - `dma/`: a small dmaengine subsystem: memcpy devices with channels and engine threads
 *   ({@link dmaAsyncDeviceRegister}), the client API ({@link dmaRequestChanByMask},
 *   {@link dmaenginePrepDmaMemcpy}, {@link dmaengineSubmit}, {@link dmaAsyncIssuePending},
 *   {@link dmaengineTerminateSync}), scatter-gather tables and an IOMMU.
 * - {@link dcbmDriver}: the migrator module.
 *
 * @packageDocumentation
 */
export * from "./conformance";
export * from "./dcbm";
export * from "./dma/dma_mapping";
export * from "./dma/dmaengine";
export * from "./dma/dmaengine_h";
export * from "./dma/fault_inject";
export * from "./dma/iommu";
export * from "./dma/memcpy_device";
export * from "./dma/scatterlist";
