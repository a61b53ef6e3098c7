/**
 * `@migrate-offload/dcbm`: the DMA Core Batch Migrator and the dmaengine model it drives.
 *
 * Not yet implemented: the package exists so that its name and place in the workspace are
 * fixed. It will depend on `@migrate-offload/core` alone.
 *
 * @packageDocumentation
 */

/** The module name the driver registers under (`KBUILD_MODNAME` of `drivers/dma/dcbm`). */
export const DCBM_MODULE_NAME = "dcbm";
