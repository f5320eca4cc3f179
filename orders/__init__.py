"""Orders as MCS judges them before the ERP sees them (pure logic, no Temporal, no database)."""
