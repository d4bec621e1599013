"""Citizens rating a transaction: kiosk and phone pages, and the one submission path they share."""
