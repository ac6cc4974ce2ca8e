#!/usr/bin/env node
// A small MQTT.js client driven by e2e/mqtt_clients_test.go.
//
//   node roundtrip.js --url mqtt://127.0.0.1:1883 --version 5 \
//     --username alice --password password-alice --client-id alice-js \
//     --subscribe 'IMS/alice/Inbox/#' [--publish IMS/p2p/bob --message hi]
//     [--count N] [--timeout 30] [--stdin]
//
// It connects (mqtt:// or mqtts:// over TCP, ws:// or wss:// to /mqtt;
// --version 4 is MQTT 3.1.1, 5 is MQTT 5.0), subscribes at QoS 1, and
// writes one JSON line on stdout for each thing that happens:
//
//   {"event":"connected","session_present":false,"properties":{...}}
//   {"event":"subscribed","granted":[{"topic":"...","qos":1}]}
//   {"event":"message","topic":"...","qos":1,"payload":"...","user_properties":{...}}
//   {"event":"published","topic":"...","message_id":1,"reason_code":0,"user_properties":{...}}
//   {"event":"error","message":"..."}
//
// What it publishes comes from argv (--publish/--message, once subscribed)
// and, with --stdin, from stdin: one JSON object per line,
// {"topic":"IMS/p2p/bob","payload":"hi","qos":1}. Publishes go one at a
// time, each after the previous one's PUBACK.
//
// It exits 0 once --count messages have arrived and every publish is
// acknowledged (with --stdin: once stdin is closed too), and 1 on an error
// or when --timeout seconds pass first.
'use strict';

const mqtt = require('mqtt');
const readline = require('readline');

function parseArgs(argv) {
  const o = { version: 4, count: 0, timeout: 30, stdin: false, qos: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--url': o.url = val(); break;
      case '--version': o.version = Number(val()); break;
      case '--username': o.username = val(); break;
      case '--password': o.password = val(); break;
      case '--client-id': o.clientId = val(); break;
      case '--subscribe': o.subscribe = val(); break;
      case '--publish': o.publish = val(); break;
      case '--message': o.message = val(); break;
      case '--qos': o.qos = Number(val()); break;
      case '--count': o.count = Number(val()); break;
      case '--timeout': o.timeout = Number(val()); break;
      case '--ca': o.ca = val(); break;
      case '--stdin': o.stdin = true; break;
      default: fail(`unknown argument ${a}`);
    }
  }
  if (!o.url) fail('--url is required');
  if (o.version !== 4 && o.version !== 5) fail('--version must be 4 or 5');
  if (o.publish && o.message === undefined) fail('--publish needs --message');
  return o;
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(msg) {
  out({ event: 'error', message: String(msg) });
  process.exit(1);
}

function userProps(packet) {
  const up = packet && packet.properties && packet.properties.userProperties;
  return up || {};
}

const opt = parseArgs(process.argv.slice(2));

const connectOpts = {
  protocolVersion: opt.version,
  clientId: opt.clientId,
  username: opt.username,
  password: opt.password,
  clean: true,
  reconnectPeriod: 0, // one connection: a drop is a failure
  connectTimeout: 10 * 1000,
  keepalive: 30,
};
if (opt.ca) {
  connectOpts.ca = require('fs').readFileSync(opt.ca);
}

const timer = setTimeout(() => fail(`timed out after ${opt.timeout}s`), opt.timeout * 1000);

const client = mqtt.connect(opt.url, connectOpts);

let received = 0;
let stdinOpen = opt.stdin;
let subscribed = false;
let publishing = false;
let lastPuback = null;
const queue = [];

client.on('packetreceive', (packet) => {
  if (packet.cmd === 'puback') lastPuback = packet;
});

client.on('error', (err) => fail(`mqtt: ${err.message}${err.code !== undefined ? ` (code ${err.code})` : ''}`));
client.on('close', () => {
  if (!client.disconnecting) fail('connection closed by the server');
});
client.on('disconnect', (packet) => fail(`server sent DISCONNECT, reason code ${packet.reasonCode}`));

client.on('message', (topic, payload, packet) => {
  received++;
  out({
    event: 'message',
    topic,
    qos: packet.qos,
    payload: payload.toString('utf8'),
    user_properties: userProps(packet),
  });
  maybeDone();
});

client.on('connect', (connack) => {
  out({ event: 'connected', session_present: !!connack.sessionPresent, properties: connack.properties || {} });
  if (!opt.subscribe) {
    subscribed = true;
    startPublishing();
    return;
  }
  client.subscribe(opt.subscribe, { qos: opt.qos }, (err, granted) => {
    if (err) fail(`subscribe ${opt.subscribe}: ${err.message}`);
    subscribed = true;
    out({ event: 'subscribed', granted });
    startPublishing();
  });
});

function startPublishing() {
  if (opt.publish) queue.push({ topic: opt.publish, payload: opt.message, qos: opt.qos });
  next();
}

function next() {
  if (!subscribed || publishing) return;
  const p = queue.shift();
  if (!p) {
    maybeDone();
    return;
  }
  publishing = true;
  lastPuback = null;
  const qos = p.qos === undefined ? 1 : p.qos;
  client.publish(p.topic, p.payload, { qos }, (err) => {
    const ack = lastPuback;
    if (err) fail(`publish ${p.topic}: ${err.message}${err.code !== undefined ? ` (reason code ${err.code})` : ''}`);
    out({
      event: 'published',
      topic: p.topic,
      message_id: ack ? ack.messageId : null,
      reason_code: ack && ack.reasonCode !== undefined ? ack.reasonCode : 0,
      user_properties: userProps(ack),
    });
    publishing = false;
    next();
  });
}

function maybeDone() {
  if (received < opt.count || publishing || queue.length > 0 || stdinOpen || !subscribed) return;
  clearTimeout(timer);
  client.end(false, () => process.exit(0));
}

if (opt.stdin) {
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    line = line.trim();
    if (line === '') return;
    let p;
    try {
      p = JSON.parse(line);
    } catch (e) {
      fail(`stdin: not JSON: ${line}`);
    }
    if (typeof p.topic !== 'string' || typeof p.payload !== 'string') fail(`stdin: need topic and payload strings: ${line}`);
    queue.push(p);
    next();
  });
  rl.on('close', () => {
    stdinOpen = false;
    maybeDone();
  });
}
