/* The Kafka listener: accepting connections, cutting the byte stream into size-prefixed
 * frames, and writing answers strictly in request order (a request answered early waits for
 * the ones before it). A frame that cannot be decoded, or one larger than the limit, closes
 * its connection with one trace line; nothing else is affected. Connections and requests are
 * freed only once libuv is done with them: a request answered after its connection closed is
 * dropped quietly.
 *
 * TLS (src/tls) sits between the socket and the framing on connections accepted by the TLS
 * listener: ciphertext read is decrypted into the same buffer plaintext bytes are read into,
 * and each answer is encrypted into its own chunk, written in order. Nothing above this file
 * knows the difference (the frame limit applies to decrypted bytes), and a plaintext
 * connection takes no step of it (one branch per read, per buffer and per answer). */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "brook/common.h"
#include "kafka/kafka_impl.h"

#define SWEEP_MS 1000
#define MAX_QUEUED 128         /* requests in flight per connection before reading pauses */
#define MAX_UNSENT (64u << 20) /* answer bytes the socket has not taken before reading pauses */
#define READ_CHUNK (64 * 1024)

void bk_kafka_config_defaults(bk_kafka_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "0.0.0.0";
    cfg->advertised_host = "127.0.0.1";
    cfg->max_frame_bytes = 100u << 20;
    cfg->max_connections = 16384;
    cfg->idle_timeout_ms = 600000; /* Kafka's connections.max.idle.ms */
    cfg->max_poll_ms = 30000;
    cfg->auto_create_topics = 1;
    cfg->cluster = "brook";
    cfg->register_ms = 5000;
}

int32_t bk_kafka_node_id_of(const char *broker_id)
{
    uint32_t h = 2166136261u;
    for (const char *p = broker_id; p && *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return (int32_t)(h & 0x7fffffff);
}

static void maybe_done(bk_kafka_t *k)
{
    if (!k->stopping || k->conn_count || k->handles_open)
        return;
    void (*done)(void *) = k->stop_done;
    void *arg = k->stop_arg;
    free(k->cipher_buf);
    free(k);
    if (done)
        done(arg);
}

static void req_free(bk_kreq_t *r)
{
    if (r->free_state)
        r->free_state(r->state);
    bk_karena_free(&r->arena);
    bk_kw_free(&r->out);
    free(r->cipher);
    free(r->frame);
    free(r);
}

static void on_conn_closed(uv_handle_t *h)
{
    bk_kconn_t *c = h->data;
    bk_kafka_t *k = c->k;
    if (c->prev)
        c->prev->next = c->next;
    else
        k->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    k->conn_count--;
    if (c->scram) {
        OPENSSL_cleanse(c->scram, sizeof *c->scram);
        free(c->scram);
    }
    bk_tls_free(c->tls);
    free(c->buf);
    free(c);
    maybe_done(k);
}

void bk_kconn_close(bk_kconn_t *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (why)
        bk_trace_info("kafka", "closing connection from %s: %s", c->peer, why);
    /* Requests not yet written are detached: they free themselves when answered. */
    for (bk_kreq_t *r = c->head, *next; r; r = next) {
        next = r->next;
        r->conn = NULL;
        r->next = NULL;
        c->queued--;
        if (r->done)
            req_free(r);
    }
    c->head = c->tail = NULL;
    if (c->tls) { /* close_notify (or the alert that says why), if the socket takes it now */
        bk_tls_close(c->tls);
        char out[1024];
        uv_buf_t b = uv_buf_init(out, (unsigned)bk_tls_out_take(c->tls, out, sizeof out));
        if (b.len)
            (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void parse_frames(bk_kconn_t *c);

/* Answers written but not yet taken by the socket: a client that does not read (while it
 * pipelines fetches) must not make the broker hold its answers without bound. */
static int over_budget(const bk_kconn_t *c)
{
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp) > MAX_UNSENT;
}

static void resume(bk_kconn_t *c)
{
    if (!c->paused || c->closing || c->draining || c->held || c->queued >= MAX_QUEUED / 2 ||
        over_budget(c))
        return;
    c->paused = 0;
    parse_frames(c); /* whole frames left in the buffer when the budget stopped the parse */
    if (c->closing || c->draining || c->held)
        return;
    if (c->queued >= MAX_QUEUED || over_budget(c)) {
        c->paused = 1;
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        bk_kconn_close(c, "cannot resume reading");
}

static void after_write(uv_write_t *w, int status)
{
    bk_kreq_t *r = w->data;
    bk_kconn_t *c = r->conn;
    int close_after = r->close_after;
    req_free(r);
    if (!c)
        return;
    c->queued--;
    c->last_active = uv_now(c->k->loop);
    if (status < 0 && !c->closing)
        bk_kconn_close(c, uv_strerror(status));
    else if (close_after)
        bk_kconn_close(c, NULL); /* the reason was traced when the answer was made */
    else
        resume(c);
}

/* A TLS connection's answer: encrypted into a chunk of its own (the plaintext is freed at
 * once), written like a plaintext one. */
static int write_tls(bk_kconn_t *c, bk_kreq_t *r)
{
    int rc = bk_tls_write(c->tls, r->out.data, r->out.len);
    bk_kw_free(&r->out);
    size_t n = bk_tls_out_pending(c->tls);
    if (rc < 0 || !(r->cipher = malloc(n ? n : 1)))
        return rc < 0 ? rc : UV_ENOMEM;
    uv_buf_t b = uv_buf_init((char *)r->cipher, (unsigned)bk_tls_out_take(c->tls, r->cipher, n));
    return uv_write(&r->wreq, (uv_stream_t *)&c->tcp, &b, 1, after_write);
}

/* Writes every answer ready at the head of the queue (libuv keeps writes in order). */
static void flush(bk_kconn_t *c)
{
    while (!c->closing && c->head && c->head->done) {
        bk_kreq_t *r = c->head;
        c->head = r->next;
        if (!c->head)
            c->tail = NULL;
        if (r->no_answer || r->out.len == 0) {
            req_free(r);
            c->queued--;
            continue;
        }
        uv_buf_t b = uv_buf_init((char *)r->out.data, (unsigned)r->out.len);
        r->wreq.data = r;
        int rc = c->tls ? write_tls(c, r)
                        : uv_write(&r->wreq, (uv_stream_t *)&c->tcp, &b, 1, after_write);
        if (rc < 0) {
            req_free(r);
            c->queued--;
            bk_kconn_close(c, uv_strerror(rc));
            return;
        }
    }
    resume(c);
}

void bk_kreq_finish(bk_kreq_t *r)
{
    if (!r->conn) {
        req_free(r);
        return;
    }
    if (r->out.bad) { /* out of memory building the answer: the client would wait forever */
        bk_kconn_t *c = r->conn;
        r->done = 1;
        bk_kconn_close(c, "out of memory building an answer");
        return;
    }
    if (!r->no_answer)
        bk_kresp_end(&r->out);
    r->done = 1;
    flush(r->conn);
}

/* Takes one whole frame (copied) off the connection and hands it on. Returns 0, or -1 when
 * the connection was closed. */
static int take_frame(bk_kconn_t *c, const uint8_t *frame, size_t len)
{
    bk_kreq_t *r = calloc(1, sizeof *r);
    if (r)
        r->frame = malloc(len ? len : 1);
    if (!r || !r->frame) {
        free(r);
        bk_kconn_close(c, "out of memory");
        return -1;
    }
    memcpy(r->frame, frame, len);
    r->frame_len = len;
    r->conn = c;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->queued++;
    bk_kafka_dispatch(c->k, r);
    return c->closing ? -1 : 0;
}

static void parse_frames(bk_kconn_t *c)
{
    size_t pos = 0;
    while (!c->closing && !c->draining && !c->held && !over_budget(c) && c->len - pos >= 4) {
        const uint8_t *p = c->buf + pos;
        int32_t size =
            (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
        if (size < 0 || (uint64_t)size > c->k->cfg.max_frame_bytes) {
            char why[128];
            snprintf(why, sizeof why, "frame size %d outside 0..%llu (--kafka-max-frame-bytes)",
                     size, (unsigned long long)c->k->cfg.max_frame_bytes);
            bk_kconn_close(c, why);
            return;
        }
        if (c->len - pos - 4 < (size_t)size)
            break;
        if (take_frame(c, p + 4, (size_t)size) < 0)
            return;
        pos += 4 + (size_t)size;
    }
    memmove(c->buf, c->buf + pos, c->len - pos);
    c->len -= pos;
}

/* Room for want more bytes in c->buf; 0 or -1 (out of memory). */
static int reserve(bk_kconn_t *c, size_t want)
{
    if (c->cap - c->len >= want)
        return 0;
    size_t cap = c->cap ? c->cap : want;
    while (cap - c->len < want)
        cap *= 2;
    uint8_t *nb = realloc(c->buf, cap);
    if (!nb)
        return -1;
    c->buf = nb;
    c->cap = cap;
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    bk_kconn_t *c = h->data;
    if (c->tls) /* ciphertext: fed to the TLS layer (a copy) before the next read */
        *buf = uv_buf_init((char *)c->k->cipher_buf, READ_CHUNK);
    else if (reserve(c, READ_CHUNK))
        *buf = uv_buf_init(NULL, 0);
    else
        *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void shrink(bk_kconn_t *c)
{
    if (c->cap > (1u << 20) && c->len < (64u << 10)) { /* after one outsized frame */
        uint8_t *nb = malloc(128 * 1024);
        if (!nb)
            return;
        memcpy(nb, c->buf, c->len);
        free(c->buf);
        c->buf = nb;
        c->cap = 128 * 1024;
    }
}

/* Frames what was read (or decrypted) into c->buf; pauses reading past MAX_QUEUED. */
static void after_bytes(bk_kconn_t *c)
{
    parse_frames(c);
    if (c->closing)
        return;
    shrink(c);
    if ((c->queued >= MAX_QUEUED || over_budget(c)) && !c->paused) {
        c->paused = 1;
        (void)uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

static void after_tls_chunk(uv_write_t *w, int status)
{
    bk_kconn_t *c = w->data;
    free(w);
    if (status < 0 && !c->closing)
        bk_kconn_close(c, uv_strerror(status));
}

/* Sends the ciphertext the TLS layer produced on its own (handshake flights, session
 * tickets), after whatever is queued. 0, or a negative error. */
static int tls_send(bk_kconn_t *c)
{
    size_t n = bk_tls_out_pending(c->tls);
    if (!n)
        return 0;
    uv_write_t *w = malloc(sizeof *w + n);
    if (!w)
        return UV_ENOMEM;
    char *data = (char *)(w + 1);
    uv_buf_t b = uv_buf_init(data, (unsigned)bk_tls_out_take(c->tls, data, n));
    w->data = c;
    int rc = uv_write(w, (uv_stream_t *)&c->tcp, &b, 1, after_tls_chunk);
    if (rc < 0)
        free(w);
    return rc;
}

/* The principal of a TLS connection: a verified client certificate's CN (User:<CN>, as for
 * HTTPS), which then needs no SASL; without one the connection is as unauthenticated as a
 * plaintext one (SASL first when authentication is on). */
static void handshake_done(bk_kconn_t *c)
{
    const char *cn = bk_tls_peer_name(c->tls);
    if (cn && strlen(cn) < sizeof c->user) {
        snprintf(c->user, sizeof c->user, "%s", cn);
        c->cert_user = 1;
    }
    bk_trace_debug("kafka", "%s: %s handshake done%s%s%s", c->peer, bk_tls_version(c->tls),
                   c->cert_user ? ", client certificate of User:" : "", c->cert_user ? c->user : "",
                   bk_tls_resumed(c->tls) ? " (resumed)" : "");
}

/* Ciphertext arrived: everything it decrypts to goes into c->buf (at most about what was
 * read), then is framed as on a plaintext connection. Handshake bytes do not count as
 * activity: the handshake must be done within handshake_timeout_ms of the accept. */
static void on_tls_bytes(bk_kconn_t *c, const char *data, size_t len)
{
    int was_done = bk_tls_handshake_done(c->tls);
    int rc = bk_tls_feed(c->tls, data, len);
    size_t got = 0;
    while (rc == 0) {
        if (reserve(c, 16 * 1024)) {
            rc = UV_ENOMEM;
            break;
        }
        rc = bk_tls_read(c->tls, (char *)c->buf + c->len, c->cap - c->len, &got);
        c->len += got;
        if (!got)
            break;
    }
    if (bk_tls_handshake_done(c->tls)) {
        c->last_active = uv_now(c->k->loop);
        if (!was_done)
            handshake_done(c);
    }
    int sent = rc == 0 || rc == UV_EOF ? tls_send(c) : 0;
    if (rc == 0 && sent == 0) {
        after_bytes(c);
        return;
    }
    char why[300];
    snprintf(why, sizeof why, "TLS: %s",
             sent < 0                  ? uv_strerror(sent)
             : rc == UV_ENOMEM         ? "out of memory"
             : bk_tls_error(c->tls)[0] ? bk_tls_error(c->tls)
                                       : "the client broke off the TLS session");
    after_bytes(c); /* what arrived before the end (a close_notify) is served, as on plaintext */
    bk_kconn_close(c, rc == UV_EOF && sent == 0 ? NULL : why);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    bk_kconn_t *c = s->data;
    if (nread == UV_ENOBUFS) {
        bk_kconn_close(c, "out of memory");
        return;
    }
    if (nread < 0) {
        if (c->tls && !bk_tls_handshake_done(c->tls)) /* port probes too: not worth a line */
            bk_trace_debug("kafka", "%s closed during the TLS handshake", c->peer);
        bk_kconn_close(c, c->len ? "closed by the client in the middle of a frame" : NULL);
        return;
    }
    if (c->tls) {
        on_tls_bytes(c, buf->base, (size_t)nread);
        return;
    }
    c->len += (size_t)nread;
    c->last_active = uv_now(c->k->loop);
    after_bytes(c);
}

void bk_kconn_hold(bk_kconn_t *c)
{
    c->held = 1;
    (void)uv_read_stop((uv_stream_t *)&c->tcp);
}

void bk_kconn_release(bk_kconn_t *c)
{
    c->held = 0;
    if (c->closing || c->draining)
        return;
    parse_frames(c);
    if (c->closing || c->draining || c->held)
        return;
    c->paused = c->queued >= MAX_QUEUED || over_budget(c);
    if (!c->paused && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        bk_kconn_close(c, "cannot resume reading");
}

static void set_peer(bk_kconn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(c->peer, sizeof c->peer, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    char ip[48] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
}

static void on_connection(uv_stream_t *l, int status)
{
    bk_kafka_t *k = l->data;
    int tls = l == (uv_stream_t *)&k->tls_listener;
    if (status < 0 || k->stopping)
        return;
    bk_kconn_t *c = calloc(1, sizeof *c);
    if (!c || uv_tcp_init(k->loop, &c->tcp) != 0) {
        free(c);
        return;
    }
    c->k = k;
    c->tcp.data = c;
    c->next = k->conns;
    if (k->conns)
        k->conns->prev = c;
    k->conns = c;
    k->conn_count++;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
        bk_kconn_close(c, NULL);
        return;
    }
    set_peer(c);
    if (k->conn_count > k->cfg.max_connections) {
        bk_kconn_close(c, "too many connections (--max-connections)");
        return;
    }
    if (tls && bk_tls_new(k->cfg.tls, NULL, NULL, &c->tls) != 0) {
        bk_kconn_close(c, "out of memory for a TLS session");
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    c->last_active = uv_now(k->loop);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        bk_kconn_close(c, "cannot start reading");
}

static void on_sweep(uv_timer_t *t)
{
    bk_kafka_t *k = t->data;
    uint64_t now = uv_now(k->loop);
    uint32_t handshake_ms =
        k->cfg.handshake_timeout_ms ? k->cfg.handshake_timeout_ms : k->cfg.idle_timeout_ms;
    for (bk_kconn_t *c = k->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (c->tls && !bk_tls_handshake_done(c->tls)) {
            if (now - c->last_active > handshake_ms)
                bk_kconn_close(c, "TLS handshake not done in time (--request-timeout-ms)");
        } else if (c->queued == 0 && now - c->last_active > k->cfg.idle_timeout_ms) {
            bk_kconn_close(c, "idle (--idle-timeout-ms)");
        } else if (c->tls && c->queued == 0 && now - c->last_active >= 1000) {
            bk_tls_release_buffers(c->tls); /* quiet for a second: record buffers back */
        }
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    bk_kafka_t *k = h->data;
    k->handles_open--;
    maybe_done(k);
}

static int bind_listen(bk_kafka_t *k, uv_tcp_t *listener, int port)
{
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(k->cfg.host, port, (struct sockaddr_in *)&addr);
    if (rc)
        rc = uv_ip6_addr(k->cfg.host, port, (struct sockaddr_in6 *)&addr);
    if (rc == 0)
        rc = uv_tcp_bind(listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)listener, 1024, on_connection);
    return rc;
}

static void copy_strings(bk_kafka_t *k)
{
    snprintf(k->host_buf, sizeof k->host_buf, "%s", k->cfg.advertised_host);
    snprintf(k->broker_buf, sizeof k->broker_buf, "%s", k->cfg.broker_id ? k->cfg.broker_id : "");
    snprintf(k->cluster_buf, sizeof k->cluster_buf, "%s", k->cfg.cluster);
    snprintf(k->tls_host_buf, sizeof k->tls_host_buf, "%s",
             k->cfg.tls_advertised_host ? k->cfg.tls_advertised_host : k->cfg.advertised_host);
    k->cfg.tls_advertised_host = k->tls_host_buf;
    k->cfg.advertised_host = k->host_buf;
    k->cfg.broker_id = k->broker_buf;
    k->cfg.cluster = k->cluster_buf;
    k->cfg.host = NULL; /* used only while binding */
}

int bk_kafka_start(uv_loop_t *loop, const bk_kafka_config_t *cfg, const bk_kafka_deps_t *deps,
                   bk_kafka_t **out)
{
    bk_kafka_t *k = calloc(1, sizeof *k);
    if (!k)
        return UV_ENOMEM;
    k->loop = loop;
    k->cfg = *cfg;
    k->deps = *deps;
    if (!k->deps.pids)
        k->deps.pids = &k->own_pids;
    uv_tcp_init(loop, &k->listener);
    uv_timer_init(loop, &k->sweeper);
    k->listener.data = k->sweeper.data = k;
    k->handles_open = 2;
    int rc = bind_listen(k, &k->listener, k->cfg.port);
    if (k->cfg.tls) {
        uv_tcp_init(loop, &k->tls_listener);
        k->tls_listener.data = k;
        k->handles_open++;
        k->cipher_buf = malloc(READ_CHUNK);
        if (rc == 0)
            rc = k->cipher_buf ? bind_listen(k, &k->tls_listener, k->cfg.tls_port) : UV_ENOMEM;
    }
    copy_strings(k);
    if (rc == 0 && k->cfg.advertised_port == 0)
        k->cfg.advertised_port = bk_kafka_port(k);
    if (rc == 0 && k->cfg.tls && k->cfg.tls_advertised_port == 0)
        k->cfg.tls_advertised_port = bk_kafka_tls_port(k);
    if (rc == 0)
        rc = bk_kregistry_start(k);
    if (rc) {
        bk_kafka_stop(k, NULL, NULL);
        return rc;
    }
    uv_timer_start(&k->sweeper, on_sweep, SWEEP_MS, SWEEP_MS);
    *out = k;
    return 0;
}

static int bound_port(const uv_tcp_t *listener)
{
    struct sockaddr_storage addr;
    int len = sizeof addr;
    if (uv_tcp_getsockname(listener, (struct sockaddr *)&addr, &len))
        return -1;
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

int bk_kafka_port(const bk_kafka_t *k)
{
    return bound_port(&k->listener);
}

int bk_kafka_tls_port(const bk_kafka_t *k)
{
    return k->cfg.tls ? bound_port(&k->tls_listener) : -1;
}

void bk_kafka_stop(bk_kafka_t *k, void (*done)(void *arg), void *arg)
{
    k->stopping = 1;
    k->stop_done = done;
    k->stop_arg = arg;
    bk_kfetch_wake_all(k);
    bk_kgroup_stop(k);
    bk_kregistry_stop(k);
    bk_kautocreate_stop(k);
    bk_kpidask_stop(k);
    for (bk_kconn_t *c = k->conns, *next; c; c = next) {
        next = c->next;
        bk_kconn_close(c, NULL);
    }
    uv_close((uv_handle_t *)&k->listener, on_handle_closed);
    uv_close((uv_handle_t *)&k->sweeper, on_handle_closed);
    if (k->cfg.tls)
        uv_close((uv_handle_t *)&k->tls_listener, on_handle_closed);
}
