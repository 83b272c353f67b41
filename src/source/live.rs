//! Live capture through libpcap (feature `live`) (stub).
