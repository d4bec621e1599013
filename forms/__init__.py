"""WTForms / Flask-WTF form classes, one module per audience (citizen, manager)."""
