"""Email as data: parsing MIME, talking IMAP, recording what a mailbox delivered."""
