/**
 * `@migrate-offload/core`: a model of the Linux kernel's memory management over real memory.
 *
 * Start with {@link Kernel.make}. The folder layout follows the kernel's: `mm/` for memory
 * management, `kernel/` for processes, `fs/` for files, sysfs and procfs, `lib/` for helpers.
 *
 * @packageDocumentation
 */
export * from "./drivers/base/node";
export * from "./errno";
export * from "./fs/inode";
export * from "./fs/kernfs";
export * from "./fs/proc";
export * from "./include/capability";
export * from "./include/folio";
export * from "./include/fs";
export * from "./include/gfp";
export * from "./include/huge_mm";
export type { BadPage, KernelConfig, Task } from "./include/kernel";
export * from "./include/kernfs";
export * from "./include/mem_map";
export * from "./include/mempolicy";
export * from "./include/migrate";
export * from "./include/migrate_copy_offload";
export * from "./include/migrate_mode";
export * from "./include/mm_types";
export * from "./include/mman";
export * from "./include/mmzone";
export * from "./include/module";
export * from "./include/page_flags";
export * from "./include/pagemap";
export * from "./include/pgtable";
export * from "./include/sched";
export * from "./include/srcu";
export * from "./include/swap";
export * from "./include/tlbflush";
export * from "./include/trace";
export * from "./include/vmstat";
export * from "./init/main";
export * from "./kernel/copy_engine";
export * from "./kernel/module";
export * from "./kernel/srcu";
export * from "./kernel/task";
export * from "./lib/cmdline";
export * from "./lib/fault_inject";
export * from "./lib/kstrtox";
export * from "./lib/list";
export * from "./lib/nodemask";
export * from "./lib/numa";
export * from "./mm/copy_mc";
export * from "./mm/debug";
export * from "./mm/filemap";
export * from "./mm/huge_memory";
export * from "./mm/memory";
export * from "./mm/memory_failure";
export * from "./mm/mempolicy";
export * from "./mm/migrate";
export * from "./mm/migrate_copy_offload";
export * from "./mm/mmap";
export * from "./mm/move_pages";
export * from "./mm/page_alloc";
export * from "./mm/rmap";
export * from "./mm/swap";
