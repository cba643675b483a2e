// The playground's icon: the page links it as a data: URI (no request at all), and
// GET /favicon.ico serves the same SVG for the requests browsers make on their own.
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#111827"/><path d="M4 3h3.5a5 5 0 0 1 0 10H4z" fill="#60a5fa"/></svg>`;

export const FAVICON_DATA_URI = "data:image/svg+xml," + encodeURIComponent(FAVICON_SVG);
