// Reads a watch with the npm "eventsource" package (a WHATWG EventSource
// that no one here wrote) and prints the first N events as JSON.
// Usage: node eventsource.cjs MODULE_DIR URL N
const { EventSource } = require(require('path').join(process.argv[2], 'node_modules', 'eventsource'));
const [url, n] = [process.argv[3], Number(process.argv[4])];
const es = new EventSource(url);
const got = [];
let opens = 0;
es.onopen = () => { opens++; };
for (const type of ['put', 'delete', 'expire']) {
  es.addEventListener(type, (e) => {
    got.push({ type, id: e.lastEventId, data: e.data });
    if (got.length === n) {
      console.log(JSON.stringify({ opens, events: got }));
      es.close();
      process.exit(0);
    }
  });
}
setTimeout(() => { console.error(`timed out after ${got.length} of ${n} events`); process.exit(1); }, 60000);
