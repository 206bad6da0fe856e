# Intentional non-ASCII look-alikes (dotless i, fullwidth comma): the indexer must keep them.
# ruff: noqa: RUF001
"""Word and paragraph pools the simulated world draws from.

Everything here is plain constant data; the world picks from it with a seeded ``random.Random`` so
the same seed always yields the same jobs. Some entries carry accents, CJK and emoji on purpose:
the indexer must store and search them unchanged.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"

SOURCES: tuple[str, ...] = (
    "greenhouse", "lever_co", "workday", "ashby", "smartrecruiters", "icims", "taleo",
    "successfactors", "bamboohr", "jobvite", "workable", "recruitee", "personio", "teamtailor",
    "breezy_hr", "jazzhr", "pinpoint", "rippling", "gem", "dover", "wellfound", "linkedin",
    "indeed", "glassdoor", "ziprecruiter", "monster", "careerbuilder", "dice", "stepstone", "xing",
    "totaljobs", "reed", "seek", "naukri", "jobstreet", "infojobs", "welcome_to_the_jungle",
    "otta", "builtin", "hired", "remoteok", "weworkremotely", "remotive", "himalayas", "jobbio",
    "comeet", "hibob", "freshteam", "zoho_recruit", "oracle_cloud", "adp", "ultipro", "paylocity",
    "paycom", "dayforce", "cornerstone", "avature", "eightfold", "phenom", "beamery",
    "recruiterbox", "jobdiva", "bullhorn", "crelate", "manatal", "trakstar", "applicantpro",
    "hirebridge", "clearcompany", "jobscore", "fountain", "harri", "snagajob", "workstream",
    "paradox", "talentlyft", "homerun", "join_com", "softgarden", "dvinci", "rexx", "umantis",
    "prescreen", "sage_hr", "factorial", "kenjo", "bizneo", "employ_inc", "polymer", "trinet_hire",
    "oorwin", "ceipal", "vincere", "tracker_rms", "jobadder", "livehire", "pageup", "career_site",
    "company_website", "getro", "consider", "trueup",
)  # fmt: skip

# (title, normalized_title); a few carry accents, CJK or emoji.
TITLES: tuple[tuple[str, str | None], ...] = (
    ("Software Engineer", "software_engineer"),
    ("Backend Engineer", "backend_engineer"),
    ("Frontend Developer", "frontend_developer"),
    ("Full Stack Developer", "full_stack_developer"),
    ("Data Engineer", "data_engineer"),
    ("Data Scientist", "data_scientist"),
    ("Machine Learning Engineer", "machine_learning_engineer"),
    ("Site Reliability Engineer", "site_reliability_engineer"),
    ("DevOps Engineer", "devops_engineer"),
    ("Security Analyst", "security_analyst"),
    ("Product Manager", "product_manager"),
    ("Product Designer", "product_designer"),
    ("UX Researcher", "ux_researcher"),
    ("Engineering Manager", "engineering_manager"),
    ("QA Engineer", "qa_engineer"),
    ("Mobile Developer (iOS)", "mobile_developer"),
    ("Android Developer", "android_developer"),
    ("Solutions Architect", "solutions_architect"),
    ("Technical Writer", "technical_writer"),
    ("Account Executive", "account_executive"),
    ("Sales Development Representative", "sales_development_representative"),
    ("Customer Success Manager", "customer_success_manager"),
    ("Marketing Manager", "marketing_manager"),
    ("Content Strategist", "content_strategist"),
    ("Financial Analyst", "financial_analyst"),
    ("Accountant", "accountant"),
    ("HR Business Partner", "hr_business_partner"),
    ("Recruiter", "recruiter"),
    ("Registered Nurse", "registered_nurse"),
    ("Pharmacist", "pharmacist"),
    ("Warehouse Associate", "warehouse_associate"),
    ("Delivery Driver", "delivery_driver"),
    ("Electrician", "electrician"),
    ("Mechanical Engineer", "mechanical_engineer"),
    ("Civil Engineer", "civil_engineer"),
    ("Operations Manager", "operations_manager"),
    ("Office Administrator", "office_administrator"),
    ("Teacher", "teacher"),
    ("Barista", "barista"),
    ("Chef de Partie", "chef_de_partie"),
    ("Développeur·se Backend Senior", "backend_engineer"),
    ("Ingeniero de Datos (Señor)", "data_engineer"),
    ("Entwickler für Großrechner", "mainframe_developer"),
    ("ソフトウェアエンジニア", "software_engineer"),
    ("数据分析师", "data_analyst"),
    ("프론트엔드 개발자", "frontend_developer"),
    ("Product Designer 🎨", "product_designer"),
    ("Rocket Scientist 🚀 (Propulsion)", None),
    ("Chargé·e de clientèle", "customer_service_representative"),
    ("Specialist, Łódź Operations", None),
)

SENIORITY: tuple[tuple[str, str | None], ...] = (
    ("", None), ("", None), ("Senior ", "senior"), ("Junior ", "entry"), ("Lead ", "lead"),
    ("Staff ", "senior"), ("Principal ", "lead"), ("Intern - ", "intern"),
    ("Head of ", "executive"),
)  # fmt: skip

COMPANY_FIRST: tuple[str, ...] = (
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Cyberdyne",
    "Tyrell", "Soylent", "Aperture", "Vandelay", "Pied Piper", "Massive", "Blue Harbor",
    "Northwind",
    "Contoso", "Fabrikam", "Litware", "Tailspin", "Adventure", "Alpine", "Coho", "Proseware",
    "Lucerne", "Margie", "Wingtip", "Woodgrove", "Fourth Coffee", "Helios", "Nimbus", "Quantum",
    "Vertex", "Orbit", "Zephyr", "Atlas", "Beacon", "Cascade", "Summit",
)  # fmt: skip
COMPANY_LAST: tuple[str, ...] = (
    "Labs", "Systems", "Technologies", "Health", "Logistics", "Financial", "Robotics", "Analytics",
    "Foods", "Energy", "Studios", "Networks", "Bank", "Retail", "Motors", "Software", "Group",
    "Partners", "Holdings", "Inc.", "GmbH", "S.A.", "Ltd", "AB", "BV",
)  # fmt: skip
UNICODE_COMPANIES: tuple[str, ...] = (
    "Société Générale d'Ingénierie", "株式会社テクノソリューション", "Nordström & Søn",
    "Café Ñandú", "🚀 Rocket Foundry", "Zürcher Präzisions AG", "北京数据科技有限公司",
    "Łukasz & Żaneta sp. z o.o.", "São Bento Logística", "한빛 소프트", "Crème Brûlée Bakery ☕",
    "Ångström Optics", "İstanbul Yazılım A.Ş.", "Øresund Energi",
)  # fmt: skip

INDUSTRIES: tuple[str, ...] = (
    "Software", "Fintech", "Healthcare", "Retail", "Logistics", "Manufacturing", "Education",
    "Energy", "Media", "Hospitality", "Government", "Telecommunications", "Biotech", "Automotive",
)  # fmt: skip
CATEGORIES: tuple[str, ...] = (
    "B2B", "B2C", "SaaS", "Marketplace", "Enterprise", "Startup", "Nonprofit", "Public company",
)  # fmt: skip

SKILLS_HARD: tuple[str, ...] = (
    "Python", "Java", "Go", "Rust", "TypeScript", "React", "Kubernetes", "Terraform", "AWS", "GCP",
    "Azure", "SQL", "PostgreSQL", "OpenSearch", "Kafka", "Spark", "Airflow", "dbt", "Excel",
    "Salesforce", "Figma", "Swift", "Kotlin", "C++", "Linux", "Tableau", "SAP", "AutoCAD",
    "Forklift operation", "Phlebotomy", "Bookkeeping", "CNC machining",
)  # fmt: skip
SKILLS_SOFT: tuple[str, ...] = (
    "Communication", "Teamwork", "Ownership", "Problem solving", "Mentoring", "Negotiation",
    "Time management", "Empathy", "Attention to detail", "Adaptability",
)  # fmt: skip
EDUCATION: tuple[str, ...] = (
    "High school diploma", "Bachelor's degree in Computer Science", "Bachelor's degree",
    "Master's degree", "PhD", "Associate degree", "Vocational training",
)  # fmt: skip
CERTIFICATIONS: tuple[str, ...] = (
    "AWS Certified Solutions Architect", "CKA", "CISSP", "PMP", "CPA", "RN license",
    "Forklift certification", "ServSafe", "CFA Level I", "Scrum Master",
)  # fmt: skip
RESPONSIBILITIES: tuple[str, ...] = (
    "Design, build and operate services used by millions of people",
    "Own features end to end, from discovery to rollout",
    "Review code and mentor teammates",
    "Work with product and design to shape the roadmap",
    "Keep our systems observable, reliable and secure",
    "Write clear documentation for internal and external users",
    "Talk to customers and turn their feedback into improvements",
    "Plan and run the weekly inventory count",
    "Prepare monthly financial reports and forecasts",
    "Coordinate shift schedules across three sites",
    "Participate in an on-call rotation (one week in six)",
    "Mettre en place les bonnes pratiques de qualité logicielle",
)  # fmt: skip
BENEFITS: tuple[str, ...] = (
    "Competitive salary and equity", "Health, dental and vision insurance", "401(k) matching",
    "30 days of paid vacation", "Remote-first culture", "Learning budget of 1,500 € per year",
    "Parental leave", "Home office stipend", "Gym membership", "Free lunch on Fridays 🍕",
    "Public transport pass", "Four-day work week pilot",
)  # fmt: skip

PARAGRAPHS: tuple[str, ...] = (
    "We are looking for a motivated person to join our growing team. You will work closely with "
    "colleagues across engineering, product and operations to deliver work that matters to our "
    "customers every single day.",
    "About us: we started in a small garage and today serve customers in more than forty "
    "countries. Our culture is built on trust, curiosity and a healthy dose of humour.",
    "What you will do:\n- Build and maintain systems that are fast, correct and easy to change\n- "
    "Collaborate with teammates in several time zones\n- Share what you learn in writing",
    "What we look for:\n- Several years of relevant experience\n- Clear written communication\n- "
    "A habit of leaving things better than you found them",
    "Our stack is pragmatic: we pick boring technology where we can and invest in the few places "
    "where it makes a difference. Expect Python, Go, PostgreSQL, OpenSearch and Kubernetes.",
    "This role can be performed remotely from most countries in Europe and the Americas. We meet "
    "in person twice a year for a week of planning, learning and fun.",
    "Nous recherchons une personne passionnée pour rejoindre notre équipe à Paris. Vous "
    "participerez à la conception et à l'évolution de notre plateforme, en étroite collaboration "
    "avec les équipes produit et données.",
    "Wir suchen eine engagierte Persönlichkeit, die unser Team in München verstärkt. Gute "
    "Deutschkenntnisse sind von Vorteil, aber keine Voraussetzung; unsere Arbeitssprache ist "
    "Englisch.",
    "Buscamos una persona con ganas de aprender y de crecer con nosotros. Ofrecemos un ambiente "
    "de trabajo flexible, formación continua y un equipo internacional.",
    "私たちは、世界中のお客様に価値を届けるために、新しい仲間を探しています。日本語と英語でのコミュニケーションが"
    "できる方を歓迎します。",
    "我们正在寻找热爱技术、善于沟通的同事，一起打造稳定、高效的数据平台。",
    "Benefits include comprehensive health coverage, a generous learning budget, flexible hours "
    "and the equipment of your choice. 🎉 We also close the office between Christmas and New Year.",
    "The hiring process has four steps: a short call with a recruiter, a take-home exercise of no "
    "more than three hours, a technical conversation with two engineers, and a final meeting with "
    "the hiring manager.",
    "We are an equal opportunity employer. We celebrate diversity and are committed to creating "
    "an inclusive environment for all employees, regardless of race, religion, colour, national "
    "origin, gender, sexual orientation, age, marital status, veteran status or disability.",
    "Responsibilities:\n* Keep the warehouse clean, safe and organised\n* Pick, pack and ship "
    "orders accurately\n* Operate equipment according to safety procedures\n* Report issues early",
    "Shift pattern: four days on, four days off, 7am to 7pm. Overtime is paid at time and a half. "
    "Uniform and safety boots provided.",
    "You will care for patients on a busy medical-surgical unit, administer medication, document "
    "care in our electronic health record and work with physicians to plan treatment.",
    "Requirements: a valid driving licence, a clean record for the past three years, and the "
    "ability to lift up to 25 kg. Experience with route-planning apps is a plus.",
    "Compensation: the range shown reflects the base salary for this role across all locations; "
    "your offer will depend on experience, skills and location. Equity and a bonus are offered on "
    "top.",
    "Please note: we cannot sponsor work visas for this position at this time. Applicants must be "
    "authorised to work in the country where the role is based.",
    "Our data platform ingests billions of events per day. You will help us keep it correct and "
    "cheap: schema evolution, backfills, late-arriving data and idempotent pipelines are daily "
    "topics here.",
    "Working at our café means early mornings, great coffee ☕ and regulars who know your name. "
    "Barista experience helps, but a friendly attitude matters more.",
    "Security is everyone's job. You will threat-model new features, run tabletop exercises, "
    "triage reports from our bug bounty programme and help teams fix what matters first.",
    "In your first 90 days you will ship a small feature to production, pair with every member "
    "of the team, and propose one improvement to how we work.",
)


# Role families: which hard skills a job of each title asks for (the world draws a job's skills
# from its family, so "python developer" and "react" find the jobs a seeker expects).
FAMILY_SKILLS: dict[str, tuple[str, ...]] = {
    "backend": ("Python", "Java", "Go", "Rust", "PostgreSQL", "SQL", "Kafka", "Kubernetes", "AWS",
                "Linux", "Docker"),
    "frontend": ("React", "TypeScript", "JavaScript", "CSS", "HTML", "Vue", "Node.js", "Figma"),
    "fullstack": ("Python", "TypeScript", "JavaScript", "React", "Node.js", "PostgreSQL", "Java",
                  "Go", "AWS", "Docker"),
    "mobile": ("Swift", "Kotlin", "Java", "React Native", "iOS", "Android SDK", "Firebase"),
    "data": ("Python", "SQL", "Spark", "Airflow", "dbt", "Kafka", "Tableau", "PostgreSQL",
             "Snowflake", "Pandas"),
    "ml": ("Python", "PyTorch", "TensorFlow", "Machine learning", "Spark", "SQL", "Kubernetes",
           "Pandas", "NLP"),
    "infra": ("Kubernetes", "Terraform", "AWS", "GCP", "Azure", "Linux", "Go", "Python",
              "Prometheus", "Docker", "Ansible"),
    "security": ("Linux", "Python", "AWS", "SIEM", "Penetration testing", "Threat modeling",
                 "Networking"),
    "qa": ("Selenium", "Python", "Java", "Test automation", "Cypress", "JavaScript", "Jira"),
    "product": ("Jira", "SQL", "Roadmapping", "User research", "Figma", "A/B testing",
                "Analytics"),
    "design": ("Figma", "Prototyping", "User research", "Sketch", "Design systems",
               "Adobe Creative Suite"),
    "writing": ("Technical writing", "Markdown", "Git", "API documentation", "Confluence"),
    "sales": ("Salesforce", "HubSpot", "CRM", "Cold calling", "Excel", "Pipeline management"),
    "marketing": ("SEO", "Google Analytics", "HubSpot", "Copywriting", "Excel",
                  "Content marketing"),
    "finance": ("Excel", "Bookkeeping", "SAP", "Financial modeling", "QuickBooks", "GAAP"),
    "people": ("Workday", "Recruiting", "Payroll", "Employee relations", "Excel", "LinkedIn"),
    "health": ("Patient care", "Phlebotomy", "Medication administration", "EHR", "BLS",
               "Triage"),
    "logistics": ("Forklift operation", "Inventory management", "Route planning", "Pallet jack",
                  "Shipping"),
    "trades": ("AutoCAD", "CNC machining", "SolidWorks", "Electrical wiring", "Blueprint reading",
               "MATLAB"),
    "operations": ("Excel", "Scheduling", "Microsoft Office", "Bookkeeping", "Process improvement"),
    "education": ("Lesson planning", "Classroom management", "Curriculum design"),
    "hospitality": ("Food safety", "Espresso", "Customer service", "Knife skills", "Cash handling"),
    "general": ("Excel", "Microsoft Office", "Project management", "Customer service"),
}  # fmt: skip

# normalized_title -> role family (titles without a normalised title are "general").
TITLE_FAMILY: dict[str, str] = {
    "software_engineer": "fullstack", "backend_engineer": "backend",
    "frontend_developer": "frontend", "full_stack_developer": "fullstack",
    "data_engineer": "data", "data_scientist": "ml", "data_analyst": "data",
    "machine_learning_engineer": "ml", "site_reliability_engineer": "infra",
    "devops_engineer": "infra", "security_analyst": "security", "product_manager": "product",
    "product_designer": "design", "ux_researcher": "design", "engineering_manager": "backend",
    "qa_engineer": "qa", "mobile_developer": "mobile", "android_developer": "mobile",
    "solutions_architect": "infra", "technical_writer": "writing",
    "account_executive": "sales", "sales_development_representative": "sales",
    "customer_success_manager": "sales", "customer_service_representative": "sales",
    "marketing_manager": "marketing", "content_strategist": "marketing",
    "financial_analyst": "finance", "accountant": "finance", "hr_business_partner": "people",
    "recruiter": "people", "registered_nurse": "health", "pharmacist": "health",
    "warehouse_associate": "logistics", "delivery_driver": "logistics", "electrician": "trades",
    "mechanical_engineer": "trades", "civil_engineer": "trades",
    "mainframe_developer": "backend", "operations_manager": "operations",
    "office_administrator": "operations", "teacher": "education", "barista": "hospitality",
    "chef_de_partie": "hospitality",
}  # fmt: skip


def family_of(normalized_title: str | None) -> str:
    """The role family of a normalised title (``general`` when unknown or missing)."""
    return TITLE_FAMILY.get(normalized_title or "", "general")


@cache
def cities() -> tuple[dict[str, object], ...]:
    """The bundled table of real cities: city, region, ISO-2 country, latitude, longitude."""
    with (DATA_DIR / "cities.json").open(encoding="utf-8") as handle:
        return tuple(json.load(handle))
