// kafkajs 2.2.4 (npm, unmodified) against a Brook broker, driven by test_kafkajs.py: one
// scenario per invocation, its outcome as one JSON document on stdout, and a non-zero exit
// with the error on stderr when a step fails. It asserts nothing itself; the Python test
// judges what came back (and reads the same records over HTTP).
//
//   node kafkajs_client.js admin    BROKER TOPIC PARTITIONS
//   node kafkajs_client.js produce  BROKER TOPIC COUNT none|gzip plain|idempotent
//   node kafkajs_client.js group    BROKER TOPIC GROUP MORE
'use strict'

const { Kafka, CompressionTypes, logLevel } = require('kafkajs')

const [mode, broker, topic, ...rest] = process.argv.slice(2)
// kafkajs's own log lines go to stderr, so stdout carries the outcome only.
const toStderr = () => ({ namespace, level, label, log }) => {
  process.stderr.write(JSON.stringify({ label, namespace, ...log }) + '\n')
}
process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1'
const kafka = new Kafka({
  clientId: 'brook-kafkajs-test',
  brokers: [broker],
  logLevel: logLevel.WARN,
  logCreator: toStderr,
  connectionTimeout: 10000,
  requestTimeout: 30000,
  retry: { retries: 12, initialRetryTime: 200, maxRetryTime: 3000 },
})

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitFor (what, pred, ms) {
  const deadline = Date.now() + ms
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what)
    await sleep(100)
  }
}

// createTopics (twice: the second finds it there), listTopics, fetchTopicMetadata.
async function admin (partitions) {
  const a = kafka.admin()
  await a.connect()
  try {
    const spec = { topic, numPartitions: partitions, replicationFactor: 1 }
    const created = await a.createTopics({ topics: [spec], waitForLeaders: true })
    const again = await a.createTopics({ topics: [spec], waitForLeaders: true })
    const listed = await a.listTopics()
    const meta = await a.fetchTopicMetadata({ topics: [topic] })
    const offsets = await a.fetchTopicOffsets(topic)
    return { created, again, listed, metadata: meta.topics, offsets }
  } finally {
    await a.disconnect()
  }
}

// COUNT records, record i to partition i % partitions with key k<i>, value v<i> and a header,
// ten per send() (acks -1); returns where each landed: [{i, partition, offset}].
async function produce (count, codec, kind) {
  const idempotent = kind === 'idempotent'
  const a = kafka.admin()
  await a.connect()
  const partitions = (await a.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length
  await a.disconnect()
  const p = kafka.producer({ idempotent, maxInFlightRequests: idempotent ? 1 : undefined,
    allowAutoTopicCreation: false })
  await p.connect()
  const out = []
  try {
    for (let start = 0; start < count; start += 10) {
      const batch = []
      for (let i = start; i < Math.min(count, start + 10); i++) {
        batch.push({ key: 'k' + i, value: 'v' + i, partition: i % partitions,
          headers: { n: String(i) } })
      }
      const res = await p.send({ topic, acks: -1, messages: batch,
        compression: codec === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None })
      const base = {}
      for (const r of res) {
        if (r.errorCode !== 0) throw new Error('produce error ' + JSON.stringify(r))
        base[r.partition] = Number(r.baseOffset)
      }
      const seen = {}
      for (let k = 0; k < batch.length; k++) {
        const part = batch[k].partition
        seen[part] = (seen[part] || 0)
        out.push({ i: start + k, partition: part, offset: base[part] + seen[part]++ })
      }
    }
  } finally {
    await p.disconnect()
  }
  return out
}

// Two members of GROUP split TOPIC (already holding records) and read all of it, committing;
// then member a leaves, b takes over every partition, MORE records are produced and b reads
// them. Returns the assignments seen, every record read ([member, partition, offset, value])
// and the group's committed offsets as kafkajs fetches them.
async function group (groupId, more) {
  const a = kafka.admin()
  await a.connect()
  const ends = async () => Object.fromEntries(
    (await a.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]))
  const consumed = []
  const assigned = {}
  const total = () => consumed.length
  const member = async (name) => {
    const c = kafka.consumer({ groupId, sessionTimeout: 15000, heartbeatInterval: 500,
      rebalanceTimeout: 30000, retry: { retries: 12 } })
    c.on(c.events.GROUP_JOIN, (e) => { assigned[name] = (e.payload.memberAssignment[topic] || []).slice().sort() })
    await c.connect()
    await c.subscribe({ topics: [topic], fromBeginning: true })
    await c.run({
      autoCommitInterval: 200,
      eachMessage: async ({ partition, message }) => {
        consumed.push([name, partition, Number(message.offset), message.value.toString()])
      },
    })
    return c
  }
  const before = await ends()
  const want1 = Object.values(before).reduce((x, y) => x + y, 0)
  const ca = await member('a')
  const cb = await member('b')
  const split = () => (assigned.a || []).length > 0 && (assigned.b || []).length > 0 &&
    (assigned.a.length + assigned.b.length) === Object.keys(before).length
  await waitFor('both members assigned', split, 90000)
  const firstSplit = { a: assigned.a, b: assigned.b }
  await waitFor(want1 + ' records read by the pair', () => total() >= want1, 90000)
  const committed = async () => {
    const res = await a.fetchOffsets({ groupId, topics: [topic] })
    return Object.fromEntries(res[0].partitions.map((p) => [p.partition, Number(p.offset)]))
  }
  await waitFor('the pair\'s commits', async () => {
    const c = await committed()
    return Object.keys(before).every((p) => c[p] === before[p])
  }, 60000)
  await ca.disconnect()
  await waitFor('b taking every partition', () => (assigned.b || []).length === Object.keys(before).length, 90000)
  const p = kafka.producer({ allowAutoTopicCreation: false })
  await p.connect()
  const parts = Object.keys(before).length
  for (let i = 0; i < more; i++) {
    await p.send({ topic, acks: -1, messages: [{ value: 'm' + i, partition: i % parts }] })
  }
  await p.disconnect()
  const after = await ends()
  await waitFor('b reading the rest', () => total() >= want1 + more, 90000)
  await waitFor('b\'s commits', async () => {
    const c = await committed()
    return Object.keys(after).every((q) => c[q] === after[q])
  }, 60000)
  const finalCommitted = await committed()
  await cb.disconnect()
  await a.disconnect()
  return { firstSplit, takeover: assigned.b, before, after, consumed, committed: finalCommitted }
}

async function main () {
  if (mode === 'admin') return admin(Number(rest[0]))
  if (mode === 'produce') return produce(Number(rest[0]), rest[1], rest[2])
  if (mode === 'group') return group(rest[0], Number(rest[1]))
  throw new Error('unknown mode ' + mode)
}

const watchdog = setTimeout(() => {
  console.error('kafkajs_client: ' + mode + ' did not finish in 300 s')
  process.exit(3)
}, 300000)

main().then((out) => {
  clearTimeout(watchdog)
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0))
}, (err) => {
  console.error('kafkajs_client ' + mode + ' failed: ' + (err && err.stack ? err.stack : err))
  process.exit(1)
})
