/* SPDX-License-Identifier: Apache-2.0 */
/* Overwriting the store's free pages (scrub.c). */
#ifndef KANAL_SCRUB_H
#define KANAL_SCRUB_H

struct store;

/* Overwrite the store's free pages, and the unused gaps of live pages, so
 * erased data leaves the file.  Writer thread, no transaction open. */
int store_scrub_free_pages(struct store *st);

#endif
