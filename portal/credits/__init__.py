"""Credit notes (issue 13 item 5): staff correct an issued invoice with a credit note (series CRN, Factur-X type
381) whose credit pays what the corrected invoice still owes, else is consumed by the organization's next owed
invoices as their prepaid amount (BT-113). Nothing is ever refunded by itself."""
