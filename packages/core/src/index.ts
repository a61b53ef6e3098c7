/**
 * `@migrate-offload/core`: a model of the Linux kernel's memory management over real memory.
 *
 * Start with {@link Kernel.make}. The folder layout follows the kernel's: `mm/` for memory
 * management, `kernel/` for processes, `fs/` for files, sysfs and procfs, `lib/` for helpers.
 *
 * @packageDocumentation
 */
export * from "./errno";
export * from "./fs/inode";
export * from "./fs/kernfs";
export * from "./kernel";
export * from "./kernel/copy_engine";
export * from "./kernel/migrator_module";
export * from "./kernel/module";
export * from "./kernel/srcu";
export * from "./kernel/task";
export * from "./kernel/trace";
export * from "./lib/kstrtox";
export * from "./lib/list";
export * from "./lib/nodemask";
export * from "./lib/numa";
export * from "./mm/copy_mc";
export * from "./mm/debug";
export * from "./mm/fail_page_alloc";
export * from "./mm/filemap";
export * from "./mm/folio";
export * from "./mm/gfp";
export * from "./mm/huge_memory";
export * from "./mm/mem_map";
export * from "./mm/memory";
export * from "./mm/memory_failure";
export * from "./mm/mempolicy";
export * from "./mm/migrate";
export * from "./mm/migrate_copy_offload";
export * from "./mm/migrate_mode";
export * from "./mm/mm_types";
export * from "./mm/mmap";
export * from "./mm/move_pages";
export * from "./mm/page_alloc";
export * from "./mm/page_flags";
export * from "./mm/pgtable";
export * from "./mm/rmap";
export * from "./mm/sparse";
export * from "./mm/swap";
export * from "./mm/tlb";
export * from "./mm/vmstat";
