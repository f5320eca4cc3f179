"""Simulators of the systems that cannot run here (Dify, an ERP gateway, an SMTP server)."""
