/**
 * Batches of folios.
 *
 * Models the size of `struct folio_batch` (`include/linux/pagevec.h`, Linux 6.16).
 *
 * @module
 */

/**
 * `PAGEVEC_SIZE` (`include/linux/pagevec.h`): the folios one `struct folio_batch` holds, 31. The
 * page cache's batched walks (truncation's `find_get_entries()`, writeback's
 * `filemap_get_folios_tag()`) hold a reference on each folio of a batch until the batch is done.
 *
 * @category Memory and folios
 */
export const PAGEVEC_SIZE = 31;
