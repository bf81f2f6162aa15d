"""Reference data for the demo world: the category tree, and per-city names, streets and languages."""


# City service providers: (city slug, kind, code, name, category slug, customer number pattern, hourly rate major)
PROVIDERS = [
    ("hangzhou", "electricity", "hz-grid", "State Grid Hangzhou Power Supply", "electricity", r"^\d{10}$", None),
    ("hangzhou", "water", "hz-water", "Hangzhou Water Group", "water", r"^\d{8}$", None),
    ("hangzhou", "gas", "hz-gas", "Hangzhou Gas Group", "gas", r"^\d{10}$", None),
    ("hangzhou", "phone", "zj-mobile", "China Mobile Zhejiang", "telecom", r"^1\d{10}$", None),
    ("hangzhou", "transit", "hz-tong", "Hangzhou Tong (metro and bus card)", "transit", r"^\d{10,12}$", None),
    ("hangzhou", "parking", "hz-parking", "Hangzhou City Parking", "parking", r"^.*$", "8"),
    ("shanghai", "electricity", "sh-grid", "State Grid Shanghai Municipal Electric Power", "electricity", r"^\d{10}$",
     None),
    ("shanghai", "water", "sh-water", "Shanghai Chengtou Water", "water", r"^\d{8}$", None),
    ("shanghai", "gas", "sh-gas", "Shanghai Gas", "gas", r"^\d{10}$", None),
    ("shanghai", "phone", "sh-unicom", "China Unicom Shanghai", "telecom", r"^1\d{10}$", None),
    ("shanghai", "transit", "sh-jtk", "Shanghai Public Transportation Card", "transit", r"^\d{10,12}$", None),
    ("shanghai", "parking", "sh-parking", "Shanghai Public Parking", "parking", r"^.*$", "10"),
    ("zurich", "electricity", "ewz", "ewz Elektrizitätswerk der Stadt Zürich", "electricity", r"^\d{8,10}$", None),
    ("zurich", "water", "wvz", "Wasserversorgung Zürich", "water", r"^\d{8}$", None),
    ("zurich", "gas", "energie360", "Energie 360°", "gas", r"^\d{8,10}$", None),
    ("zurich", "phone", "swisscom", "Swisscom", "telecom", r"^0\d{9}$", None),
    ("zurich", "transit", "zvv", "ZVV (SwissPass top-up)", "transit", r"^\d{10,12}$", None),
    ("zurich", "parking", "zh-parking", "Parkleitsystem Zürich", "parking", r"^.*$", "3"),
    ("davos", "electricity", "ewd", "EWD Elektrizitätswerk Davos", "electricity", r"^\d{8,10}$", None),
    ("davos", "water", "davos-water", "Wasserversorgung Davos", "water", r"^\d{8}$", None),
    ("davos", "transit", "davos-bus", "Verkehrsbetrieb Davos", "transit", r"^\d{10,12}$", None),
    ("davos", "parking", "davos-parking", "Parkhaus Davos Platz", "parking", r"^.*$", "2.5"),
    ("hangzhou", "office", "hz-citizen-centre", "Hangzhou Citizen Service Centre", "public-office", r"^.*$", None),
    ("shanghai", "office", "sh-exit-entry", "Shanghai Exit-Entry Administration Bureau", "public-office", r"^.*$",
     None),
    ("zurich", "office", "zh-stadthaus", "Stadthaus Zürich, Personenmeldeamt", "public-office", r"^.*$", None),
    ("davos", "office", "davos-einwohneramt", "Gemeinde Davos, Einwohneramt", "public-office", r"^.*$", None),
]
