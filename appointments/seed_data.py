"""Reference data for the demo world: the category tree, and per-city names, streets and languages."""


# Public services by appointment: (office code, service code, name, description, fee in major units,
# minutes per slot, people per slot).
PUBLIC_SERVICES = [
    ("hz-citizen-centre", "id-card-renewal", "Resident ID card renewal",
     "Renew an expiring resident identity card; photo taken on site.", "20", 15, 3),
    ("hz-citizen-centre", "residence-permit", "Residence permit (居住证)",
     "Apply for a residence permit after six months in Hangzhou; bring your lease and ID.", "0", 20, 2),
    ("hz-citizen-centre", "social-security", "Social security card services",
     "Issue or replace a social security card.", "0", 15, 2),
    ("sh-exit-entry", "passport", "Ordinary passport application",
     "First passport or renewal; fingerprints and photo on site.", "120", 20, 4),
    ("sh-exit-entry", "hk-macao-permit", "Exit-entry permit for Hong Kong and Macao",
     "Apply for or renew the two-way permit.", "60", 15, 4),
    ("zh-stadthaus", "residence-registration", "Residence registration (Anmeldung)",
     "Register a new address in Zurich within 14 days of moving in.", "0", 15, 2),
    ("zh-stadthaus", "id-card", "Swiss identity card",
     "Apply for an identity card; biometric data are taken at the passport office.", "70", 15, 2),
    ("zh-stadthaus", "residence-certificate", "Residence certificate (Wohnsitzbestätigung)",
     "A certified confirmation of your address.", "20", 10, 1),
    ("davos-einwohneramt", "residence-registration", "Residence registration (Anmeldung)",
     "Register your residence in the municipality of Davos.", "0", 15, 1),
    ("davos-einwohneramt", "guest-card", "Guest card for seasonal workers",
     "Register for the season and receive the Davos Klosters guest card.", "10", 10, 2),
]
