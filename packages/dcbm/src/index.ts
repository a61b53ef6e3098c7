/**
 * `@migrate-offload/dcbm`: the DMA Core Batch Migrator and the dmaengine model it drives.
 *
 * - {@link dcbmDriver}: the migrator module of `drivers/migrate_offload/dcbm/dcbm.c`.
 * - A small dmaengine subsystem: the interface of `include/linux/dmaengine.h` (channels,
 *   descriptors, cookies: {@link dmaenginePrepDmaMemcpy}, {@link dmaengineSubmit},
 *   {@link dmaAsyncIssuePending}, {@link dmaengineTerminateSync}), the core of
 *   `drivers/dma/dmaengine.c` ({@link dmaAsyncDeviceRegister}, {@link dmaRequestChanByMask}), a
 *   memcpy device with channels and engine threads ({@link DmaDevice}), scatter-gather tables,
 *   the DMA mapping API and an IOMMU.
 *
 * Conformance subjects and DMA fault injection, which only tests need, are in
 * `@migrate-offload/dcbm/testing`.
 *
 * @packageDocumentation
 */

// drivers/migrate_offload/dcbm/dcbm.c: the DMA Core Batch Migrator.
export {
  DCBM_DEFAULT_REASONS,
  DCBM_MIGRATOR_NAME,
  DCBM_MODULE_NAME,
  DCBM_SYSFS_DIR,
  DCBM_TIMEOUT_MS,
  type DcbmCompletion,
  type DcbmDriver,
  type DcbmOptions,
  type DcbmPolicy,
  dcbmDriver,
  MAX_DMA_CHANNELS,
} from "./dcbm";
// kernel/dma/direct.c, include/linux/dma-direct.h: mapping without an IOMMU.
export { dmaDirectMapSg, dmaToPhys, physToDma } from "./dma/direct";
// drivers/iommu/dma-iommu.c: mapping sg tables through an IOMMU, merging their entries.
export { iommuDmaMapSg, iommuDmaSgSegments, iommuDmaUnmapSg } from "./dma/dma_iommu";
// kernel/dma/mapping.c: mapping sg tables for a device, by either path.
export { dmaMapSgtable, dmaMapSgtableSegments, dmaUnmapSgtable } from "./dma/dma_mapping";
// include/linux/dma-mapping.h, include/linux/device.h: a device's DMA segment limits.
export {
  type DeviceDmaParameters,
  DMA_DEFAULT_MAX_SEG_SIZE,
  DMA_NO_SEG_BOUNDARY,
  type DmaMappingDevice,
  dmaGetMaxSegSize,
  dmaGetSegBoundary,
  PCI_DEFAULT_SEG_BOUNDARY_MASK,
} from "./dma/dma_mapping_h";

// drivers/dma/dmaengine.c: the device list, device registration, channel allocation.
export {
  DmaEngineCore,
  dmaAsyncDeviceRegister,
  dmaAsyncDeviceUnregister,
  dmaDevicesReady,
  dmaEngineCore,
  dmaReleaseChannel,
  dmaRequestChanByMask,
} from "./dma/dmaengine";
// include/linux/dmaengine.h: capabilities, flags, status, cookies, channels, descriptors, the
// struct dma_device callbacks, and the inline client calls.
export {
  DMA_COMPLETE,
  DMA_COMPLETION_NO_ORDER,
  DMA_CTRL_ACK,
  DMA_ERROR,
  DMA_IN_PROGRESS,
  DMA_INTERRUPT,
  DMA_MEMCPY,
  DMA_MIN_COOKIE,
  DMA_OUT_OF_ORDER,
  DMA_PAUSED,
  DMA_PREP_INTERRUPT,
  DMA_PRIVATE,
  DMA_TRANS_ABORTED,
  DMA_TRANS_NOERROR,
  DMA_TRANS_READ_FAILED,
  DMA_TRANS_WRITE_FAILED,
  DmaAsyncTxDescriptor,
  type DmaCapMask,
  DmaChan,
  type DmaCookie,
  type DmaDeviceOps,
  type DmaengineResult,
  type DmaengineTxResult,
  type DmaStatus,
  dmaAsyncIssuePending,
  dmaAsyncIsTxComplete,
  dmaCapSet,
  dmaengineGetDmaDevice,
  dmaenginePrepDmaMemcpy,
  dmaengineSubmit,
  dmaengineTerminateSync,
  dmaengineTxStatus,
  dmaHasCap,
  dmaSubmitError,
} from "./dma/dmaengine_h";
// include/linux/dma-direction.h, include/linux/iommu.h, drivers/iommu/iova.c: the IOMMU.
export {
  DMA_BIDIRECTIONAL,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  type DmaDataDirection,
  IOVA_SLOT_BYTES,
  IommuDomain,
  IommuMapping,
} from "./dma/iommu";
// drivers/dma/virt-dma.c, drivers/dma/ptdma: a memcpy DMA provider, its channels and engines.
export { DmaDevice, type DmaDeviceOptions } from "./dma/memcpy_device";
// include/linux/scatterlist.h, lib/scatterlist.c: scatter-gather tables.
export { SG_MAX_ENTRIES, SgTable, sgAllocTable, sgFreeTable, sgSetFolio } from "./dma/scatterlist";
