/**
 * The durable contents of a file.
 *
 * Models what a file's page cache reads from and writes back to: the file's blocks on its block
 * device, reached through `mapping->a_ops->read_folio()` and `->writepages()`
 * (`include/linux/fs.h`). The model keeps them as the RAM disk driver keeps its sectors
 * (`drivers/block/brd.c`): a sparse array of pages, one stored only once something was written
 * there (`brd_insert_page()`), every other page reading as zeros (a read clears what
 * `brd_lookup_page()` does not find).
 *
 * @module
 */
import { type ErrnoError, errno } from "../errno";
import { formatValue } from "../lib/bug";
import { memzero } from "../lib/string";

/**
 * A file's contents on its storage, by page offset. Models the blocks of an inode
 * (`inode->i_sb->s_bdev`), stored the way `struct brd_device` stores its sectors
 * (`brd_pages`, `drivers/block/brd.c`): a page is kept only once written back, so a file that
 * was never written back costs nothing, and a page never written back reads as zeros, like a
 * hole of a sparse file. The page cache copies into it at writeback and out of it when a fault
 * misses (`filemap_read_folio()`, `mm/filemap.c`). There is no device latency and no I/O error.
 *
 * @category Address spaces
 * @example
 * ```ts
 * import { BackingStore } from "@migrate-offload/core";
 *
 * const store = new BackingStore(4096);
 * store.write(3, new Uint8Array(4096).fill(7));
 * const page = new Uint8Array(4096);
 * store.read(3, page);
 * console.log(page[0], store.nrPages); // 7 1
 * store.read(4, page);
 * console.log(page[0]); // 0: never written
 * ```
 */
export class BackingStore {
  /** The stored pages by page offset (`brd_pages`). */
  private readonly pages = new Map<number, Uint8Array>();

  /**
   * @param pageSize bytes per page (`PAGE_SIZE`), a power of two
   * @throws an `EINVAL` {@link ErrnoError} for any other page size
   */
  constructor(readonly pageSize: number) {
    if (!Number.isInteger(pageSize) || pageSize <= 0 || (pageSize & (pageSize - 1)) !== 0)
      throw errno("EINVAL", `a page size is a power of two, not ${formatValue(pageSize)}`);
  }

  /** `EINVAL` unless `pgoff` is a page offset and `buf` a byte array of whole pages. */
  private check(what: string, pgoff: number, buf: Uint8Array): void {
    if (!Number.isSafeInteger(pgoff) || pgoff < 0)
      throw errno(
        "EINVAL",
        `${what}: the page offset must be an integer >= 0, not ${formatValue(pgoff)}`,
      );
    if (!(buf instanceof Uint8Array) || buf.length % this.pageSize !== 0)
      throw errno(
        "EINVAL",
        `${what}: a buffer of whole ${this.pageSize}-byte pages, not ${buf instanceof Uint8Array ? `${buf.length} bytes` : formatValue(buf)}`,
      );
  }

  /** Pages stored: those ever written back and not discarded since (`brd_nr_pages`). */
  get nrPages(): number {
    return this.pages.size;
  }

  /**
   * Stores `src`, whole pages, from page offset `pgoff` on (the device's write: `brd_insert_page()`,
   * then the copy into it). `src` is copied; the caller may change it afterwards.
   *
   * @throws an `EINVAL` {@link ErrnoError} for a page offset that is not an integer >= 0 or a
   *   buffer that is not whole pages; nothing is stored then
   */
  write(pgoff: number, src: Uint8Array): void {
    this.check("write", pgoff, src);
    const size = this.pageSize;
    for (let i = 0; i * size < src.length; i++) {
      let page = this.pages.get(pgoff + i);
      if (!page) {
        page = new Uint8Array(size);
        this.pages.set(pgoff + i, page);
      }
      page.set(src.subarray(i * size, (i + 1) * size));
    }
  }

  /**
   * Fills `dst`, whole pages, with the contents from page offset `pgoff` on (the device's read, which
   * clears what `brd_lookup_page()` does not find): what was last written there, or zeros where nothing was.
   *
   * @throws an `EINVAL` {@link ErrnoError} as {@link write} does; nothing is read then
   */
  read(pgoff: number, dst: Uint8Array): void {
    this.check("read", pgoff, dst);
    const size = this.pageSize;
    for (let i = 0; i * size < dst.length; i++) {
      const page = this.pages.get(pgoff + i);
      // A hole reads as zeroes (the page cache's pages are shared memory: memzero(), not fill()).
      if (page) dst.set(page, i * size);
      else memzero(dst, i * size, (i + 1) * size);
    }
  }

  /**
   * Discards every page from page offset `from` on, which then read as zeros: the blocks a
   * truncation frees (`truncate_setsize()` and the filesystem's block truncation, as
   * `brd_free_pages()` frees a RAM disk's pages).
   *
   * @throws an `EINVAL` {@link ErrnoError} for a page offset that is not an integer >= 0
   */
  discard(from = 0): void {
    this.check("discard", from, new Uint8Array(0));
    for (const pgoff of this.pages.keys()) if (pgoff >= from) this.pages.delete(pgoff);
  }

  /**
   * Cuts the contents to `size` bytes, as a filesystem's block truncation does when
   * `ftruncate()` shrinks a file (`ext4_truncate()` with `ext4_block_truncate_page()`,
   * `fs/ext4/inode.c`): the pages wholly past `size` are discarded ({@link discard}) and the
   * bytes of the page `size` falls in from `size` on are zeroed, so that growing the file again
   * reads zeros there.
   *
   * @throws an `EINVAL` {@link ErrnoError} for a size that is not an integer >= 0; nothing changes
   *   then
   */
  truncate(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0)
      throw errno("EINVAL", `truncate: the size must be an integer >= 0, not ${formatValue(size)}`);
    this.discard(Math.ceil(size / this.pageSize));
    this.pages.get(Math.floor(size / this.pageSize))?.fill(0, size % this.pageSize);
  }
}
