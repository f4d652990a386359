"""Query-engine wiring: window output topics -> aggregate store -> query engine -> HTTP views."""
