"""The file-transfer core: chunked, checked, resumable senders and receivers on real files, with no
network and no event types of its own (the client and the supervisor wrap it in protocol events)."""
