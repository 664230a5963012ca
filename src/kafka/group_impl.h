/* What the group handlers (group.c, group_offsets.c) share. */
#ifndef BROOK_KAFKA_GROUP_IMPL_H
#define BROOK_KAFKA_GROUP_IMPL_H

#include "kafka/kafka_impl.h"

/* s as a NUL-terminated string in r's arena ("" for null; NULL when out of memory). */
char *bk_kgroup_cstr(bk_kreq_t *r, bk_kslice_t s);
/* 0 when group requests may be served now, else the Kafka error code to answer. Installs
 * the answer hook on first use. */
int bk_kgroup_gate(struct bk_kafka *k);
/* GROUP_AUTHORIZATION_FAILED when r's principal was denied the group r names (resource 0,
 * see authz.c), else 0: the group APIs answer it as Kafka does instead of serving. */
int bk_kgroup_denied(const bk_kreq_t *r);

#endif
