// Points a Node client that hard-codes https://api.evolink.ai at another base URL (the emulator).
//
//   EVOLINK_BASE_URL=http://127.0.0.1:8000 NODE_OPTIONS="--import /path/to/evolink-base-url.mjs" <client>
//
// EvoLink's MCP server (npm @evolinkai/evolink-media) reads its key from EVOLINK_API_KEY but has no
// setting for its base URL: it calls fetch("https://api.evolink.ai/v1/..."). This module, loaded
// before the client with Node's --import, wraps the global fetch and sends every request for
// https://api.evolink.ai to EVOLINK_BASE_URL instead (same path and query); other URLs, such as
// the result links the emulator hands out, pass unchanged. Without EVOLINK_BASE_URL it does nothing.
const API_ORIGIN = "https://api.evolink.ai";
const target = process.env.EVOLINK_BASE_URL;

if (target) {
  const base = new URL(target);
  const prefix = base.pathname.replace(/\/$/, "");
  const fetchUpstream = globalThis.fetch;

  const rewrite = (url) => {
    const parsed = new URL(url);
    if (parsed.origin !== API_ORIGIN) return null;
    return new URL(`${prefix}${parsed.pathname}${parsed.search}`, base.origin).href;
  };

  globalThis.fetch = (input, init) => {
    if (input instanceof Request) {
      const moved = rewrite(input.url);
      return fetchUpstream(moved ? new Request(moved, input) : input, init);
    }
    const moved = rewrite(input instanceof URL ? input.href : String(input));
    return fetchUpstream(moved ?? input, init);
  };
}
