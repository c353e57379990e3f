"""Money received: paying an invoice (card, or wire/ACH/check recorded by staff), the payment methods each amount
may use, and the numbered receipt every payment makes (its page, PDF, email and the Payments list)."""
