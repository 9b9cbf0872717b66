// kafkajs against a Plexus broker, driven by test/polyglot.
//
// Usage: node kafkajs.js BOOTSTRAP TOPIC TXN_TOPIC GROUP COUNT
//
// It uses only kafkajs's public API, configured as for Apache Kafka:
//
//  1. admin.createTopics creates TOPIC and TXN_TOPIC with 3 partitions each.
//  2. An idempotent producer (acks -1) sends COUNT keyed records with
//     headers to TOPIC uncompressed and COUNT more with GZIP (the codecs
//     kafkajs has without extra packages).
//  3. A consumer in GROUP (autoCommit off) reads them all back with
//     eachMessage, checks key, value, headers and the acknowledged
//     partition and offset, and commits with commitOffsets; then
//     admin.fetchOffsets must equal admin.fetchTopicOffsets' high marks.
//  4. A transactional producer commits one transaction (COUNT records to
//     TXN_TOPIC, plus sendOffsets for GROUP-txn-commit), aborts another
//     (COUNT records, plus sendOffsets for GROUP-txn-abort), then commits
//     one record to each partition of TXN_TOPIC. A read_committed kafkajs
//     consumer must see the committed records only.
//
// It prints one JSON object on stdout (the summary the Go test checks) and
// exits 0, or prints the reason on stderr and exits 1. kafkajs logs go to
// stderr at WARN (KAFKAJS_LOG_LEVEL=debug for more).
'use strict'

const { Kafka, CompressionTypes, Partitioners, logLevel } = require('kafkajs')
const kafkajsVersion = require('kafkajs/package.json').version

const PARTITIONS = 3
const DEADLINE_MS = 40000

function fail (msg) {
  process.stderr.write('kafkajs.js: ' + msg + '\n')
  process.exit(1)
}

const stderrLog = () => ({ namespace, label, log }) => {
  const { message, ...rest } = log
  process.stderr.write(`${label} [${namespace}] ${message} ${JSON.stringify(rest)}\n`)
}

function record (prefix, i) {
  return {
    key: `${prefix}-${i}`,
    // Compressible, so GZIP really shrinks the batch.
    value: `value of ${prefix} ${i} `.repeat(8),
    headers: { prefix, i: String(i), empty: '' }
  }
}

function headersOf (message) {
  const out = {}
  for (const [k, v] of Object.entries(message.headers || {})) {
    out[k] = Buffer.isBuffer(v) ? v.toString() : v
  }
  return out
}

// consumeAll reads topic in groupId until want records have arrived or
// the deadline passes, and returns the consumer (still running) and the
// records by key.
async function consumeAll (kafka, groupId, topic, want, opts = {}) {
  // A short long-poll so disconnect does not wait the default 5 s for the
  // fetch in flight.
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 1000, ...opts })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = new Map()
  const dups = []
  let done
  const finished = new Promise(resolve => { done = resolve })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      const key = message.key === null ? null : message.key.toString()
      if (got.has(key)) dups.push(key)
      got.set(key, { partition, offset: Number(message.offset), value: message.value && message.value.toString(), headers: headersOf(message) })
      if (got.size >= want) done()
    }
  })
  const timer = setTimeout(done, DEADLINE_MS)
  await finished
  clearTimeout(timer)
  if (dups.length > 0) fail(`${topic}: records read twice: ${dups.slice(0, 5)}`)
  return { consumer, got }
}

async function main () {
  if (process.argv.length !== 7) fail('usage: node kafkajs.js BOOTSTRAP TOPIC TXN_TOPIC GROUP COUNT')
  const [bootstrap, topic, txnTopic, group] = process.argv.slice(2, 6)
  const count = Number(process.argv[6])

  const kafka = new Kafka({
    clientId: 'plexus-polyglot-kafkajs',
    brokers: [bootstrap],
    logLevel: logLevel.WARN,
    logCreator: stderrLog,
    // kafkajs's default, stated: a failing run ends instead of retrying
    // forever. kafkajs warns that this may weaken an idempotent producer's
    // guarantees after many failures; none is expected here.
    retry: { retries: 5 }
  })

  // 1. Create the topics.
  const admin = kafka.admin()
  await admin.connect()
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [topic, txnTopic].map(t => ({ topic: t, numPartitions: PARTITIONS, replicationFactor: 1 }))
  })
  if (created !== true) fail(`createTopics returned ${created}`)

  // 2. Idempotent produce, uncompressed and GZIP.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const sent = new Map()
  const codecs = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }
  for (const [name, compression] of Object.entries(codecs)) {
    const messages = []
    for (let i = 0; i < count; i++) messages.push(record(name, i))
    // One send per record, in parallel, so each gets its own acknowledged
    // partition and offset to check the consumer against.
    const acks = await Promise.all(messages.map(m => producer.send({ topic, acks: -1, compression, messages: [m] })))
    acks.forEach(([md], i) => {
      if (md.errorCode !== 0) fail(`send ${messages[i].key}: error code ${md.errorCode}`)
      sent.set(messages[i].key, { ...messages[i], partition: md.partition, offset: Number(md.baseOffset) })
    })
  }
  await producer.disconnect()

  // 3. Consume in a group, commit explicitly.
  const { consumer, got } = await consumeAll(kafka, group, topic, sent.size)
  if (got.size !== sent.size) fail(`consumed ${got.size} records, want ${sent.size}`)
  for (const [key, m] of got) {
    const s = sent.get(key)
    if (!s) fail(`consumed a record never sent: ${key}`)
    if (m.value !== s.value) fail(`record ${key}: value ${m.value}, want ${s.value}`)
    if (JSON.stringify(m.headers) !== JSON.stringify(s.headers)) fail(`record ${key}: headers ${JSON.stringify(m.headers)}, want ${JSON.stringify(s.headers)}`)
    if (m.partition !== s.partition || m.offset !== s.offset) fail(`record ${key} at ${m.partition}/${m.offset}, acknowledged at ${s.partition}/${s.offset}`)
  }
  const next = new Map()
  for (const m of got.values()) next.set(m.partition, Math.max(next.get(m.partition) || 0, m.offset + 1))
  await consumer.commitOffsets([...next].map(([partition, offset]) => ({ topic, partition, offset: String(offset) })))
  await consumer.disconnect()

  const [fetched] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  const ends = await admin.fetchTopicOffsets(topic)
  const committed = {}
  for (const p of fetched.partitions) committed[p.partition] = Number(p.offset)
  for (const e of ends) {
    if (committed[e.partition] !== Number(e.high)) fail(`partition ${e.partition}: committed ${committed[e.partition]}, high watermark ${e.high}`)
  }

  // 4. Transactions: commit one, abort one, then commit one record to
  // every partition, so a consumer that has read those has read past
  // everything aborted.
  const txProducer = kafka.producer({ transactionalId: `${group}-txn-producer`, idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
  await txProducer.connect()
  const committedKeys = []
  for (const outcome of ['commit', 'abort', 'end']) {
    const txn = await txProducer.transaction()
    const messages = []
    if (outcome === 'end') {
      for (let p = 0; p < PARTITIONS; p++) messages.push({ ...record('txn-end', p), partition: p })
    } else {
      for (let i = 0; i < count; i++) messages.push(record(`txn-${outcome}`, i))
    }
    await txn.send({ topic: txnTopic, acks: -1, messages })
    if (outcome !== 'end') {
      await txn.sendOffsets({
        consumerGroupId: `${group}-txn-${outcome}`,
        topics: [{ topic, partitions: [{ partition: 0, offset: '1' }] }]
      })
    }
    if (outcome === 'abort') {
      await txn.abort()
    } else {
      await txn.commit()
      committedKeys.push(...messages.map(m => m.key))
    }
  }
  await txProducer.disconnect()

  // kafkajs reads at read_committed by default.
  const txRead = await consumeAll(kafka, `${group}-txn-reader`, txnTopic, committedKeys.length)
  await txRead.consumer.disconnect()
  const txKeys = [...txRead.got.keys()].sort()
  if (JSON.stringify(txKeys) !== JSON.stringify([...committedKeys].sort())) fail(`read_committed consumer saw ${txKeys.length} records ${txKeys.slice(0, 5)}..., want the ${committedKeys.length} committed ones`)

  await admin.disconnect()

  const perPartition = {}
  for (const m of got.values()) perPartition[m.partition] = (perPartition[m.partition] || 0) + 1
  process.stdout.write(JSON.stringify({
    client: 'kafkajs',
    version: kafkajsVersion,
    codecs: Object.keys(codecs),
    produced: sent.size,
    consumed: got.size,
    per_partition: perPartition,
    committed,
    txn_committed: committedKeys.length,
    txn_read_committed: txRead.got.size
  }) + '\n')
}

main().catch(err => fail(`${err.name}: ${err.message}\n${err.stack}`))
