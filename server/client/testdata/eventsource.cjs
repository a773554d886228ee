// Reads a watch with the npm "eventsource" package (a WHATWG EventSource
// that no one here wrote) and prints its events as JSON, up to the
// first of revision LAST.
// Usage: node eventsource.cjs MODULE_DIR URL LAST
const { EventSource } = require(require('path').join(process.argv[2], 'node_modules', 'eventsource'));
const [url, last] = [process.argv[3], Number(process.argv[4])];
const es = new EventSource(url);
const got = [];
let opens = 0;
es.onopen = () => { opens++; };
for (const type of ['put', 'delete', 'expire']) {
  es.addEventListener(type, (e) => {
    got.push({ type, id: e.lastEventId, conn: opens, data: e.data });
    if (JSON.parse(e.data).revision === last) {
      console.log(JSON.stringify({ opens, events: got }));
      es.close();
      process.exit(0);
    }
  });
}
setTimeout(() => { console.error(`timed out after ${got.length} events`); process.exit(1); }, 60000);
