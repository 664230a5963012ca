/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka RecordBatch v2.
 * Uses the SSE4.2 crc32 instruction when the CPU has it and a slicing-by-8 table otherwise.
 * Pure computation: never allocates, never does I/O, safe from any thread. */
#ifndef BROOK_COMMON_CRC32C_H
#define BROOK_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of buf. */
uint32_t bk_crc32c(const void *buf, size_t len);

/* Continues a CRC: bk_crc32c_extend(bk_crc32c(a, n), b, m) == CRC of a followed by b.
 * bk_crc32c_extend(0, buf, len) == bk_crc32c(buf, len). */
uint32_t bk_crc32c_extend(uint32_t crc, const void *buf, size_t len);

/* The portable table implementation, always available (tests compare it with the fast path). */
uint32_t bk_crc32c_extend_sw(uint32_t crc, const void *buf, size_t len);

/* 1 when the hardware instruction is used by bk_crc32c_extend. */
int bk_crc32c_hw_available(void);

#endif
