/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KANAL_JARENA_H
#define KANAL_JARENA_H

/* Record arenas for jansson values; see jarena.c. */
struct jarena;

/* Install the allocation functions; call before any jansson value exists. */
int jarena_setup(void);
/* Make a new arena current on this thread: jansson allocates from it. */
struct jarena *jarena_begin(void);
/* Make a, begun before and ended, current on this thread again. */
void jarena_resume(struct jarena *a);
/* Stop allocating from a (it stays valid). */
void jarena_end(struct jarena *a);
/* Give back everything allocated from a: nothing may use it afterwards. */
void jarena_release(struct jarena *a);

#endif
