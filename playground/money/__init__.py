"""Money: every dollar and allowance decision: estimates, the monthly budgets, allowances and usage."""
