// The review report's page: its print button prints the document (the page frame and this toolbar are left
// off the paper by the report's print styles; every printed page carries the internal mark).

import "./page.js";

document.getElementById("report-print")?.addEventListener("click", () => window.print());
