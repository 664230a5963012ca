/* Metadata (3), versions 0-8: every live broker with its Kafka address, the leader (of every
 * partition, and controller: one leader leads the whole cluster today), and the topics asked
 * for. Unknown topics named in the request are created when the client allows it and the
 * broker's --no-auto-create-topics does not forbid it. The leader creates them first and its
 * answer waits for the creations (a failed one is reported on its topic); a follower, which
 * cannot write, asks the leader to create them (autocreate.c) and answers LEADER_NOT_AVAILABLE
 * (retriable: the client asks again, and finds the topic once replication brought it here;
 * a leader refusing, e.g. with its own --no-auto-create-topics, makes it unknown again);
 * with authentication on a follower does not (the leader would have to trust it for the
 * client's principal) and answers UNKNOWN_TOPIC_OR_PARTITION as for any unknown topic.
 * With authentication on, a listing of every topic leaves out those the principal may not
 * describe; a topic named without describe answers TOPIC_AUTHORIZATION_FAILED whether it
 * exists or not (as Kafka does: the client asked, and learns nothing about existence);
 * creating one needs create.
 * Response fields by version: throttle_time_ms (v3+); brokers [node_id, host, port, rack
 * (v1+)]; cluster_id (v2+); controller_id (v1+); topics [error_code, name, is_internal (v1+),
 * partitions [error_code, partition_index, leader_id, leader_epoch (v7+), replica_nodes,
 * isr_nodes, offline_replicas (v5+)], topic_authorized_operations (v8+)];
 * cluster_authorized_operations (v8+).
 *
 * Each listener answers with its own addresses, as Kafka answers with the endpoints of the
 * listener a request came in on: a client on the TLS port (--kafka-tls-port) is given every
 * broker's TLS address, and a broker without a TLS listener is left out of its answer
 * (partitions it leads: LEADER_NOT_AVAILABLE), so the client never reconnects to a plaintext
 * port speaking TLS. */
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "brook/groups_store.h"
#include "kafka/kafka_impl.h"

typedef struct {
    bk_kreq_t *r;
    uint32_t pending; /* creations not finished */
    int16_t *errors;  /* per requested topic: the creation's outcome (0 = fine) */
} meta_op_t;

typedef struct {
    int32_t leader; /* node id, -1 unknown */
    int32_t epoch;
    bk_knode_t nodes[BK_KAFKA_MAX_NODES];
    size_t n;
} view_t;

int bk_kafka_node_addr(const bk_kconn_t *c, bk_knode_t *n)
{
    if (!c || !c->tls)
        return 0;
    if (n->tls_port <= 0)
        return -1;
    memcpy(n->host, n->tls_host, sizeof n->host);
    n->port = n->tls_port;
    return 0;
}

/* The nodes with an address on c's listener, those addresses in host and port. */
static void listener_nodes(const bk_kconn_t *c, view_t *v)
{
    size_t kept = 0;
    for (size_t i = 0; i < v->n; i++)
        if (bk_kafka_node_addr(c, &v->nodes[i]) == 0)
            v->nodes[kept++] = v->nodes[i];
    v->n = kept;
}

static int listed(const view_t *v, int32_t id)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->nodes[i].node_id == id)
            return 1;
    return 0;
}

static void take_view(bk_kafka_t *k, const bk_kconn_t *c, view_t *v)
{
    v->n = bk_kregistry_nodes(k, v->nodes, BK_KAFKA_MAX_NODES);
    if (c && c->tls)
        listener_nodes(c, v);
    v->leader = -1;
    v->epoch = -1;
    bk_election_t *e = *k->deps.election;
    if (!e)
        return;
    bk_election_view_t ev;
    bk_election_view(e, &ev);
    v->epoch = (int32_t)ev.epoch;
    if (ev.role == BK_ROLE_STANDALONE || ev.role == BK_ROLE_LEADER)
        v->leader = k->cfg.node_id;
    else if (ev.leader_id[0])
        v->leader = bk_kregistry_node_of(k, ev.leader_id);
    if (c && c->tls && !listed(v, v->leader)) /* no address to give on this listener */
        v->leader = -1;
}

static void write_brokers(bk_kw_t *w, int16_t ver, const view_t *v)
{
    bk_kw_array(w, 0, (int32_t)v->n);
    for (size_t i = 0; i < v->n; i++) {
        bk_kw_i32(w, v->nodes[i].node_id);
        bk_kw_cstr(w, 0, v->nodes[i].host);
        bk_kw_i32(w, v->nodes[i].port);
        if (ver >= 1)
            bk_kw_str(w, 0, NULL, -1); /* rack */
    }
}

/* Replica and in-sync node lists of p: the replicator's view mapped to node ids, else the
 * leader alone. */
static void write_replicas(bk_kafka_t *k, bk_kw_t *w, bk_partition_t *p, const view_t *v)
{
    bk_replica_info_t info[16];
    int n = *k->deps.replicator ? bk_replicator_replicas(*k->deps.replicator, p, info, 16) : 0;
    int32_t rep[16], isr[16];
    int nr = 0, ni = 0;
    for (int i = 0; i < n; i++) {
        int32_t id = bk_kregistry_node_of(k, info[i].broker);
        if (id < 0)
            continue;
        rep[nr++] = id;
        if (info[i].in_sync || info[i].leader)
            isr[ni++] = id;
    }
    if (nr == 0 && v->leader >= 0) {
        rep[nr++] = v->leader;
        isr[ni++] = v->leader;
    }
    bk_kw_array(w, 0, nr);
    for (int i = 0; i < nr; i++)
        bk_kw_i32(w, rep[i]);
    bk_kw_array(w, 0, ni);
    for (int i = 0; i < ni; i++)
        bk_kw_i32(w, isr[i]);
}

static void write_topic(bk_kafka_t *k, bk_kw_t *w, int16_t ver, bk_topic_t *t, const view_t *v)
{
    bk_kw_i16(w, BK_KERR_NONE);
    bk_kw_cstr(w, 0, bk_topic_name(t));
    if (ver >= 1)
        bk_kw_i8(w, 0); /* is_internal */
    uint32_t n = bk_topic_partition_count(t);
    bk_kw_array(w, 0, (int32_t)n);
    for (uint32_t i = 0; i < n; i++) {
        bk_kw_i16(w, v->leader >= 0 ? BK_KERR_NONE : BK_KERR_LEADER_NOT_AVAILABLE);
        bk_kw_i32(w, (int32_t)i);
        bk_kw_i32(w, v->leader);
        if (ver >= 7)
            bk_kw_i32(w, v->epoch);
        write_replicas(k, w, bk_topic_partition(t, i), v);
        if (ver >= 5)
            bk_kw_array(w, 0, 0); /* offline_replicas */
    }
    if (ver >= 8)
        bk_kw_i32(w, INT32_MIN); /* topic_authorized_operations: not asked for */
}

static void write_missing(bk_kw_t *w, int16_t ver, bk_kslice_t name, int16_t error)
{
    bk_kw_i16(w, error);
    bk_kw_str(w, 0, (const char *)name.ptr, name.len);
    if (ver >= 1)
        bk_kw_i8(w, 0);
    bk_kw_array(w, 0, 0);
    if (ver >= 8)
        bk_kw_i32(w, INT32_MIN);
}

/* Every topic the principal may describe (the others are left out, as if absent). */
static void write_all(bk_kafka_t *k, bk_kreq_t *r, const view_t *v)
{
    size_t n = bk_log_topic_count(k->deps.log), shown = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = bk_topic_name(bk_log_topic_at(k->deps.log, i));
        shown += (size_t)bk_kafka_may_list(k, r, name, strlen(name));
    }
    bk_kw_array(&r->out, 0, (int32_t)shown);
    for (size_t i = 0; i < n; i++) {
        bk_topic_t *t = bk_log_topic_at(k->deps.log, i);
        const char *name = bk_topic_name(t);
        if (bk_kafka_may_list(k, r, name, strlen(name)))
            write_topic(k, &r->out, r->req.h.version, t, v);
    }
}

static void answer(bk_kafka_t *k, bk_kreq_t *r, const int16_t *errors)
{
    const bk_kreq_metadata_t *m = &r->req.u.metadata;
    int16_t ver = r->req.h.version;
    bk_kw_t *w = &r->out;
    view_t *v = malloc(sizeof *v);
    if (!v) {
        w->bad = 1;
        bk_kreq_finish(r);
        return;
    }
    take_view(k, r->conn, v);
    bk_kresp_begin(w, &r->req.h, 0);
    if (ver >= 3)
        bk_kw_i32(w, 0); /* throttle_time_ms */
    write_brokers(w, ver, v);
    if (ver >= 2)
        bk_kw_cstr(w, 0, k->cfg.cluster);
    if (ver >= 1)
        bk_kw_i32(w, v->leader); /* controller */
    if (m->ntopics < 0) {
        write_all(k, r, v);
    } else {
        bk_kw_array(w, 0, m->ntopics);
        for (int32_t i = 0; i < m->ntopics; i++) {
            bk_topic_t *t = bk_kafka_topic(k, r, i, m->topics[i]);
            if (t)
                write_topic(k, w, ver, t, v);
            else if (!bk_kafka_allowed(r, i, BK_KAUTHZ_OK)) /* whether it exists or not */
                write_missing(w, ver, m->topics[i], BK_KERR_TOPIC_AUTHORIZATION_FAILED);
            else
                write_missing(w, ver, m->topics[i],
                              errors && errors[i] ? errors[i] : BK_KERR_UNKNOWN_TOPIC_OR_PARTITION);
        }
    }
    if (ver >= 8)
        bk_kw_i32(w, INT32_MIN); /* cluster_authorized_operations */
    free(v);
    bk_kreq_finish(r);
}

static void free_op(void *state)
{
    meta_op_t *op = state;
    free(op->errors);
    free(op);
}

static int16_t creation_error(int rc)
{
    return rc == UV_EEXIST || rc == 0 ? BK_KERR_NONE
           : rc == BK_EINVAL          ? BK_KERR_INVALID_TOPIC
                                      : BK_KERR_LEADER_NOT_AVAILABLE;
}

typedef struct {
    meta_op_t *op;
    int32_t index;
} create_ctx_t;

static void after_creation(void *arg, int status, bk_topic_t *t)
{
    (void)t;
    create_ctx_t *cc = arg;
    meta_op_t *op = cc->op;
    op->errors[cc->index] = creation_error(status);
    free(cc);
    if (--op->pending)
        return;
    bk_kreq_t *r = op->r;
    if (!r->conn) { /* the client left: nothing to answer */
        bk_kreq_finish(r);
        return;
    }
    answer(r->conn->k, r, op->errors);
}

/* Starts the creations the request allows; returns how many are under way. */
static uint32_t create_missing(bk_kafka_t *k, bk_kreq_t *r, meta_op_t *op)
{
    const bk_kreq_metadata_t *m = &r->req.u.metadata;
    uint32_t parts = bk_log_config(k->deps.log)->default_partitions;
    for (int32_t i = 0; i < m->ntopics; i++) {
        bk_kslice_t name = m->topics[i];
        if (name.len <= 0 || !bk_kafka_allowed(r, i, BK_KAUTHZ_OK) ||
            bk_log_topic_find(k->deps.log, (const char *)name.ptr, (size_t)name.len))
            continue; /* not described (answered as such), or there already */
        if (!bk_kafka_allowed(r, i, BK_KAUTHZ_MAY_CREATE)) {
            op->errors[i] = BK_KERR_TOPIC_AUTHORIZATION_FAILED; /* auto-creation needs create */
            continue;
        }
        if (!bk_log_topic_name_valid((const char *)name.ptr, (size_t)name.len)) {
            op->errors[i] = BK_KERR_INVALID_TOPIC;
            continue;
        }
        if (bk_grp_is_offsets_topic((const char *)name.ptr, (size_t)name.len))
            continue; /* the coordinator creates it, compacted: unknown until then */
        create_ctx_t *cc = malloc(sizeof *cc);
        if (!cc)
            break;
        *cc = (create_ctx_t){op, i};
        int rc = bk_log_topic_create_async(k->deps.log, (const char *)name.ptr, (size_t)name.len,
                                           parts, NULL, after_creation, cc);
        if (rc == UV_EBUSY || rc == UV_EEXIST) /* being created already: wait for that one */
            rc = bk_log_topic_await_creation(k->deps.log, (const char *)name.ptr, (size_t)name.len,
                                             after_creation, cc);
        if (rc) {
            free(cc);
            op->errors[i] = creation_error(rc);
            continue;
        }
        op->pending++;
    }
    return op->pending;
}

/* Not the leader: the unknown topics r names go to the leader for creation (each answered
 * LEADER_NOT_AVAILABLE, or INVALID_TOPIC for a name the leader would refuse). */
static void ask_leader(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_metadata_t *m = &r->req.u.metadata;
    int16_t *errors = k->deps.auth ? NULL : calloc((size_t)m->ntopics, sizeof *errors);
    for (int32_t i = 0; errors && i < m->ntopics; i++) {
        const char *name = (const char *)m->topics[i].ptr;
        size_t len = m->topics[i].len > 0 ? (size_t)m->topics[i].len : 0;
        if (len == 0 || bk_log_topic_find(k->deps.log, name, len))
            continue;
        if (!bk_log_topic_name_valid(name, len)) {
            errors[i] = BK_KERR_INVALID_TOPIC;
            continue;
        }
        /* asked, under way, or to be asked again; refused by the leader: unknown */
        errors[i] = bk_kautocreate_ask(k, name, len) == UV_ENOENT
                        ? BK_KERR_UNKNOWN_TOPIC_OR_PARTITION
                        : BK_KERR_LEADER_NOT_AVAILABLE;
    }
    answer(k, r, errors);
    free(errors);
}

void bk_khandle_metadata(bk_kafka_t *k, bk_kreq_t *r)
{
    const bk_kreq_metadata_t *m = &r->req.u.metadata;
    int64_t epoch;
    if (m->ntopics <= 0 || !m->allow_auto_create || !k->cfg.auto_create_topics) {
        answer(k, r, NULL);
        return;
    }
    if (!bk_kafka_is_leader(k, &epoch)) {
        ask_leader(k, r);
        return;
    }
    meta_op_t *op = calloc(1, sizeof *op);
    int16_t *errors = calloc((size_t)m->ntopics, sizeof *errors);
    if (!op || !errors) {
        free(op);
        free(errors);
        answer(k, r, NULL);
        return;
    }
    op->r = r;
    op->errors = errors;
    r->state = op;
    r->free_state = free_op;
    op->pending = 1; /* held while starting */
    create_missing(k, r, op);
    if (--op->pending == 0)
        answer(k, r, op->errors);
}
