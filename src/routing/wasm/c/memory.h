/*
 * Memory of the routing kernels: one bump arena laid out per shape (n, m, k) by setup(), growing the
 * wasm memory when needed. The TypeScript side writes inputs into these buffers and reads results back;
 * nothing here outlives the instance, and every buffer is rewritten before it is read in a call.
 */
#ifndef MOE_MEMORY_H
#define MOE_MEMORY_H
#include <stddef.h>
#include <stdint.h>

extern unsigned char __heap_base;
static size_t arena_top;

/* 64-byte aligned block of `bytes` after the previous one; 0 when memory cannot grow. */
static void *take(size_t bytes) {
  size_t a = (arena_top + 63) & ~(size_t)63;
  size_t end = a + bytes;
  size_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have) {
    size_t pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
  }
  arena_top = end;
  return (void *)a;
}

static void arena_reset(void) { arena_top = (size_t)&__heap_base; }

#endif
