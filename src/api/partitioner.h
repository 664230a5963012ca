/* Choosing a partition for a record: explicit partition wins, a key hashes with murmur2
 * exactly as Kafka's Java client does (so keys land where other Kafka tools put them), and
 * keyless records go round-robin. Pure functions. */
#ifndef BROOK_API_PARTITIONER_H
#define BROOK_API_PARTITIONER_H

#include <stddef.h>
#include <stdint.h>

/* Kafka's Utils.murmur2 (seed 0x9747b28c), as a signed 32-bit value like Java's int. */
int32_t bk_murmur2(const uint8_t *data, size_t len);

/* Kafka's default partition for a non-null key: (murmur2(key) & 0x7fffffff) % partitions. */
uint32_t bk_partition_for_key(const uint8_t *key, size_t len, uint32_t partitions);

#endif
