"""Office managers: sign-in now; scoped dashboards, kiosks and QR posters next."""
