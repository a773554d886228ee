// Reads n change events with Node's EventSource (undici's, which no one
// here wrote) and prints them as JSON: kind, lastEventId, data.
const [url, n] = [process.argv[2], Number(process.argv[3])];
const es = new EventSource(url);
const got = [];
// The answer's headers come once the watch is registered: say so, and
// the test commits a live change.
es.onopen = () => console.log("open");
for (const kind of ["put", "delete", "expire"]) {
  es.addEventListener(kind, (e) => {
    got.push({ kind, id: e.lastEventId, data: JSON.parse(e.data) });
    if (got.length === n) {
      console.log(JSON.stringify(got));
      es.close();
      process.exit(0);
    }
  });
}
es.onerror = (e) => {
  console.error("EventSource error", e.message || "");
  process.exit(1);
};
